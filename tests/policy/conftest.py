"""Engines under test: the embedded OPA, and the OPA-server adapter talking to a
loopback OPA-compatible server (see fake_opa.py: no OPA binary in CI)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.policy.bundle import PolicyBundle, load_policy_dir
from gateway.policy.decision import PolicyEngine
from gateway.policy.embedded import EmbeddedOpaEngine
from gateway.policy.opa_server import OpaServerEngine

from .fake_opa import FakeOpaServer

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"

EngineFactory = Callable[..., PolicyEngine]


@pytest.fixture(scope="session")
def repo_bundle() -> PolicyBundle:
    return load_policy_dir(POLICY_DIR)


@pytest.fixture
def fake_opa() -> Iterator[FakeOpaServer]:
    server = FakeOpaServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["embedded-opa", "opa-server"])
def make_engine(request: pytest.FixtureRequest) -> Iterator[EngineFactory]:
    """Builds the parametrized engine for a bundle; closes what it built."""
    built: list[EmbeddedOpaEngine | OpaServerEngine] = []
    servers: list[FakeOpaServer] = []

    def make(bundle: PolicyBundle, *, timeout_s: float = 2.0) -> PolicyEngine:
        engine: EmbeddedOpaEngine | OpaServerEngine
        if request.param == "embedded-opa":
            engine = EmbeddedOpaEngine(bundle, timeout_s=timeout_s, workers=2)
        else:
            server = FakeOpaServer().start()
            servers.append(server)
            OpaServerEngine(server.url, bundle).close()  # push with the default timeout
            engine = OpaServerEngine(server.url, bundle, timeout_s=timeout_s, push=False)
        built.append(engine)
        return engine

    yield make
    for engine in built:
        engine.close()
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def repo_engines(repo_bundle: PolicyBundle) -> Iterator[dict[str, PolicyEngine]]:
    """One engine of each kind on the repository's policies, shared by the table."""
    server = FakeOpaServer().start()
    embedded = EmbeddedOpaEngine(repo_bundle, workers=2)
    remote = OpaServerEngine(server.url, repo_bundle)
    yield {"embedded-opa": embedded, "opa-server": remote}
    embedded.close()
    remote.close()
    server.stop()
