"""OPA server sync: push a version, then the server must decide a replay sample exactly as
the embedded engine does (against the loopback OPA-compatible server of tests/policy)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.policy.bundle import PolicyBundle
from gateway.policy.embedded import EmbeddedOpaEngine
from gateway.policy.opa_server import OpaServerEngine
from gateway.policy.sync import SyncFailed, sync_and_check
from tests.policy.cases import CASES
from tests.policy.fake_opa import FakeOpaServer

SAMPLES: list[dict[str, Any]] = [case.input for case in CASES[:25]]


@pytest.fixture
def server() -> Iterator[FakeOpaServer]:
    running = FakeOpaServer().start()
    yield running
    running.stop()


@pytest.fixture
def embedded(policy: PolicyBundle) -> Iterator[EmbeddedOpaEngine]:
    with EmbeddedOpaEngine(policy, workers=2) as engine:
        yield engine


def test_sync_passes_for_the_same_version(server: FakeOpaServer, policy: PolicyBundle,
                                          embedded: EmbeddedOpaEngine) -> None:
    result = sync_and_check(server.url, policy, embedded, SAMPLES)
    try:
        assert result.version == policy.hash and result.checked == len(SAMPLES)
        assert any(m == "PUT" for m, _ in server.fake.requests)
        assert result.engine.decide(SAMPLES[0]).raw == embedded.decide(SAMPLES[0]).raw
    finally:
        result.engine.close()
    with OpaServerEngine(server.url, policy, push=False) as engine:  # an engine object too
        assert sync_and_check(engine, policy, embedded, SAMPLES).checked == len(SAMPLES)


def test_sync_fails_when_the_server_holds_a_different_policy(
        server: FakeOpaServer, policy: PolicyBundle, embedded: EmbeddedOpaEngine,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The server accepts the push but keeps other data (another authority's config)."""
    original = server.fake.put_data

    def other_config(path: list[str], value: Any) -> None:
        changed = copy.deepcopy(value)
        if path == ["gateway_config"]:
            changed["default_operators"]["PERSON"] = {"operator": "keep", "params": {}}
        original(path, changed)

    monkeypatch.setattr(server.fake, "put_data", other_config)
    with pytest.raises(SyncFailed) as failed:
        sync_and_check(server.url, policy, embedded, SAMPLES)
    err = failed.value
    assert err.code == "policy_sync_failed" and err.index is not None
    assert any(".operator: 'mask' -> 'keep'" in d or ".operator: 'pseudonymize'" in d
               for d in err.diff), err.diff
    # no input value appears in the report
    text = err.message + json.dumps(err.diff, ensure_ascii=False)
    assert "91310110666007217T" not in text and "人口结构研究" not in text


def test_sync_fails_for_a_server_given_another_version(
        server: FakeOpaServer, policy: PolicyBundle, embedded: EmbeddedOpaEngine) -> None:
    data = copy.deepcopy(dict(policy.data))
    data["gateway_config"]["k_min"] = 2
    other = PolicyBundle.build(policy.modules, data, policy.tests)
    OpaServerEngine(server.url, other).close()  # the server now decides with `other`
    # deciding without re-pushing shows the difference the check is there to catch
    with OpaServerEngine(server.url, policy, push=False) as engine, \
            pytest.raises(SyncFailed, match="differently") as failed:
        sync_and_check(_NoPush(engine), policy, embedded, SAMPLES)  # type: ignore[arg-type]
    assert any(d.startswith("k_min: 5 -> 2") for d in failed.value.diff), failed.value.diff
    with pytest.raises(SyncFailed, match="holds version"):
        sync_and_check(server.url, other, embedded, SAMPLES)


def test_sync_fails_when_the_server_is_unreachable(policy: PolicyBundle,
                                                   embedded: EmbeddedOpaEngine) -> None:
    with pytest.raises(SyncFailed, match="push to the OPA server failed"):
        sync_and_check("http://127.0.0.1:9", policy, embedded, SAMPLES, timeout_s=0.5)


def test_sync_fails_when_the_server_errors_on_a_sample(
        server: FakeOpaServer, policy: PolicyBundle, embedded: EmbeddedOpaEngine,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: list[str], input: Any) -> list[dict[str, Any]]:
        raise RuntimeError("boom")

    with pytest.raises(SyncFailed) as failed, \
            OpaServerEngine(server.url, policy, push=False, timeout_s=0.5) as engine:
        monkeypatch.setattr(server.fake, "query", broken)
        sync_and_check(engine, policy, embedded, SAMPLES)
    assert failed.value.index == 0 and "could not decide sample 0" in failed.value.message


class _NoPush:
    """An OPA server engine whose push is skipped (a server that ignored it)."""

    def __init__(self, engine: OpaServerEngine) -> None:
        self._engine = engine

    def push(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)
