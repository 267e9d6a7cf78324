"""Lifecycle wired into the gateway: signed bundle download, replay and what-if through the
admin API, and activation with the OPA-server engine (pushed, checked, rolled back on
failure). No OPA binary exists here: the server is tests/policy/fake_opa.py, an
OPA-compatible loopback server backed by the real embedded OPA."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.auditlog import search
from gateway.policy.bundle import PolicyBundle, load_policy_dir
from gateway.policy.opabundle import verify_bundle
from gateway.policy.versions import active_pointer
from gateway.settings import Settings
from gateway.setup import init_data_dir
from tests.gateway.helpers import bearer, creds
from tests.policy.fake_opa import FakeOpaServer

from .conftest import POLICY_DIR, changed


def _pseudonymizing() -> PolicyBundle:
    seed = load_policy_dir(POLICY_DIR)
    data = json.loads(json.dumps(dict(seed.data)))
    data["gateway_config"]["default_operators"]["LOCATION"]["operator"] = "pseudonymize"
    return changed(seed, data=data)


def _admins(client: TestClient, d: Path) -> tuple[dict[str, str], dict[str, str]]:
    first = bearer(creds(d)["admin"]["token"])
    client.post("/admin/v1/principals", json={"id": "admin2", "name": "二", "roles": ["admin"]},
                headers=first)
    r = client.post("/admin/v1/principals/admin2/keys", json={"role": "admin"}, headers=first)
    return first, bearer(r.json()["token"])


def _approved(client: TestClient, a1: dict[str, str], a2: dict[str, str],
              bundle: PolicyBundle) -> int:
    r = client.post("/admin/v1/policies", headers=a1, json={
        "modules": dict(bundle.modules), "tests": dict(bundle.tests),
        "data": dict(bundle.data), "message": "address pseudonymized"})
    vid = int(r.json()["id"])
    assert client.post(f"/admin/v1/policies/{vid}/propose", headers=a1).status_code == 200
    assert client.post(f"/admin/v1/policies/{vid}/approve", headers=a2).status_code == 200
    return vid


def _address_operator(client: TestClient, d: Path) -> Any:
    r = client.post("/v1/datasets/qiye_dengji/query",
                    headers=bearer(creds(d)["operators"]["op-hotline"]["token"]),
                    json={"fields": ["id", "address"], "limit": 2})
    assert r.status_code == 200, r.text
    return r.json()["fields"]["address"]["operator"]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    d = tmp_path_factory.mktemp("pl-int")
    init_data_dir(Settings(data_dir=d), demo=True, rows=50, echo=lambda m: None)
    with TestClient(create_app(Settings(data_dir=d))) as c:
        yield c, d


def test_bundle_download_verifies_with_published_keys(embedded: tuple[TestClient, Path]) -> None:
    client, d = embedded
    r = client.get("/admin/v1/policies/active/bundle", headers=bearer(creds(d)["admin"]["token"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/gzip")
    keys = client.get("/v1/keys").json()["keys"]
    bundle = verify_bundle(r.content, keys)
    assert bundle.modules.keys() == load_policy_dir(POLICY_DIR).modules.keys()
    tampered = bytearray(r.content)
    tampered[len(tampered) // 2] ^= 0xFF
    with pytest.raises(Exception):
        verify_bundle(bytes(tampered), keys)


def test_replay_and_what_if_through_the_api(embedded: tuple[TestClient, Path]) -> None:
    client, d = embedded
    for _ in range(3):
        _address_operator(client, d)
    a1, a2 = _admins(client, d)
    vid = _approved(client, a1, a2, _pseudonymizing())
    r = client.post(f"/admin/v1/policies/{vid}/replay", headers=a1, json={"last": 100})
    assert r.status_code == 200, r.text
    summary = json.dumps(r.json(), ensure_ascii=False)
    assert "mask" in summary and "pseudonymize" in summary
    sample = search(client.app.state.services.state_engine,  # type: ignore[attr-defined]
                    kind="decision").entries[-1].entry["policy_input"]
    w = client.post(f"/admin/v1/policies/{vid}/what-if", headers=a1, json=sample)
    assert w.status_code == 200 and w.json()["rules"], w.text


@pytest.fixture()
def opa_env(tmp_path: Path) -> Iterator[tuple[TestClient, Path, FakeOpaServer]]:
    server = FakeOpaServer().start()
    init_data_dir(Settings(data_dir=tmp_path), demo=True, rows=50, echo=lambda m: None)
    settings = Settings(data_dir=tmp_path, policy_engine="opa", opa_url=server.url)
    try:
        with TestClient(create_app(settings)) as c:
            yield c, tmp_path, server
    finally:
        server.stop()


def test_opa_server_activation_pushes_and_switches(opa_env: tuple[TestClient, Path,
                                                                   FakeOpaServer]) -> None:
    client, d, _ = opa_env
    assert client.app.state.services.policy.name == "opa-server"  # type: ignore[attr-defined]
    assert _address_operator(client, d) == "mask"
    a1, a2 = _admins(client, d)
    vid = _approved(client, a1, a2, _pseudonymizing())
    r = client.post(f"/admin/v1/policies/{vid}/activate", headers=a1)
    assert r.status_code == 200, r.text
    assert _address_operator(client, d) == "pseudonymize"


def test_opa_server_failed_push_rolls_back(opa_env: tuple[TestClient, Path,
                                                          FakeOpaServer]) -> None:
    client, d, server = opa_env
    a1, a2 = _admins(client, d)
    engine = client.app.state.services.state_engine  # type: ignore[attr-defined]
    before = active_pointer(engine)
    vid = _approved(client, a1, a2, _pseudonymizing())
    server.stop()  # the sidecar is gone: the push cannot be checked
    r = client.post(f"/admin/v1/policies/{vid}/activate", headers=a1)
    assert r.status_code >= 500
    after = active_pointer(engine)
    assert after is not None and before is not None and after[0] == before[0]
    events = [e.entry.get("event") for e in search(engine, kind="policy").entries]
    assert "failed_push" in events


def test_receipt_and_audit_name_the_version_id(embedded: tuple[TestClient, Path]) -> None:
    client, d = embedded
    r = client.post("/v1/datasets/qiye_dengji/query",
                    headers=bearer(creds(d)["operators"]["op-hotline"]["token"]),
                    json={"fields": ["id", "company"], "limit": 1})
    engine = client.app.state.services.state_engine  # type: ignore[attr-defined]
    pointer = active_pointer(engine)
    assert pointer is not None
    assert r.json()["receipt"]["policy_version_id"] == pointer[0]
    entry = search(engine, request_id=r.headers["X-Request-Id"]).entries[-1].entry
    assert entry["policy_version_id"] == pointer[0]
