"""Maker-checker lifecycle through the admin API on a demo gateway (SQLite): the state
machine, own-version approval refused, activation visible in the next query, rollback,
audit entries; export/import through the CLI keeps the hash."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.api.app import create_app
from gateway.cli import app as cli
from gateway.policy.bundle import PolicyBundle, load_policy_dir
from gateway.settings import Settings
from gateway.setup import init_data_dir
from tests.gateway.helpers import bearer, creds

from .conftest import changed


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("policylife")
    init_data_dir(Settings(data_dir=d), demo=True, rows=50, echo=lambda m: None)
    return d


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=data_dir))) as c:
        yield c


@pytest.fixture(scope="module")
def admins(client: TestClient, data_dir: Path) -> dict[str, dict[str, str]]:
    first = bearer(creds(data_dir)["admin"]["token"])
    r = client.post("/admin/v1/principals", json={"id": "admin2", "name": "第二管理员",
                                                   "roles": ["admin"]}, headers=first)
    # The demo data dir already has admin2 (a console account) since the console work.
    assert r.status_code == 201 or r.json()["error"]["code"] == "principal_exists", r.text
    r = client.post("/admin/v1/principals/admin2/keys", json={"role": "admin"}, headers=first)
    return {"admin": first, "admin2": bearer(r.json()["token"])}


def _draft(client: TestClient, headers: dict[str, str], bundle: PolicyBundle,
           message: str) -> int:
    r = client.post("/admin/v1/policies", headers=headers, json={
        "modules": dict(bundle.modules), "tests": dict(bundle.tests),
        "data": dict(bundle.data), "message": message})
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "draft" and r.json()["hash"] == bundle.hash
    return int(r.json()["id"])


def _pseudonymizing(seed: PolicyBundle) -> PolicyBundle:
    data = json.loads(json.dumps(dict(seed.data)))
    data["gateway_config"]["default_operators"]["LOCATION"]["operator"] = "pseudonymize"
    return changed(seed, data=data)


def _address_operator(client: TestClient, data_dir: Path) -> tuple[str, str]:
    token = creds(data_dir)["operators"]["op-hotline"]["token"]
    r = client.post("/v1/datasets/qiye_dengji/query", headers=bearer(token),
                    json={"fields": ["id", "address"], "limit": 3})
    assert r.status_code == 200, r.text
    return r.json()["fields"]["address"]["operator"], r.json()["receipt"]["policy_version"]


def _post(client: TestClient, path: str, headers: dict[str, str], **body: Any) -> Any:
    return client.post(f"/admin/v1/policies{path}", headers=headers, json=body or None)


def test_operator_role_refused(client: TestClient, data_dir: Path) -> None:
    token = creds(data_dir)["operators"]["op-hotline"]["token"]
    r = client.get("/admin/v1/policies", headers=bearer(token))
    assert r.status_code == 403 and r.json()["error"]["code"] == "role_required"


def test_seed_is_active(client: TestClient, admins: dict[str, dict[str, str]],
                        seed_bundle: PolicyBundle) -> None:
    body = client.get("/admin/v1/policies", headers=admins["admin"]).json()
    seed = [v for v in body["versions"] if v["author"] == "seed"]
    assert seed and seed[0]["state"] == "active" and seed[0]["hash"] == seed_bundle.hash
    assert body["active"]["version_id"] == seed[0]["id"]


def test_lifecycle_activation_switches_the_next_query_and_rolls_back(
        client: TestClient, admins: dict[str, dict[str, str]], data_dir: Path,
        seed_bundle: PolicyBundle) -> None:
    a1, a2 = admins["admin"], admins["admin2"]
    assert _address_operator(client, data_dir) == ("mask", seed_bundle.hash)
    candidate = _pseudonymizing(seed_bundle)
    vid = _draft(client, a1, candidate, "LOCATION pseudonymized")
    # illegal transitions: 409 with the one error shape
    for verb in ("approve", "reject", "activate"):
        r = _post(client, f"/{vid}/{verb}", a2)
        assert r.status_code == 409 and r.json()["error"]["code"] == "illegal_transition"
    diff = client.get(f"/admin/v1/policies/{vid}/diff", headers=a1).json()["diff"]
    assert '-        "operator": "mask",' in diff or '"pseudonymize"' in diff
    checks = _post(client, f"/{vid}/check", a1).json()
    assert checks["ok"] and checks["coverage"]["coverage"] >= checks["coverage"]["floor"]
    r = _post(client, f"/{vid}/propose", a1)
    assert r.status_code == 200 and r.json()["state"] == "proposed", r.text
    r = _post(client, f"/{vid}/approve", a1)
    assert r.status_code == 403 and r.json()["error"]["code"] == "own_version"
    assert _post(client, f"/{vid}/approve", a2).json()["state"] == "approved"
    assert _address_operator(client, data_dir)[0] == "mask"  # approved is not active
    assert _post(client, f"/{vid}/activate", a2).json()["state"] == "active"
    assert _address_operator(client, data_dir) == ("pseudonymize", candidate.hash)
    r = _post(client, "/rollback", a1)
    assert r.status_code == 200 and r.json()["rolled_back"]["id"] == vid
    assert _address_operator(client, data_dir) == ("mask", seed_bundle.hash)
    events = [e["event"] for e in client.get(f"/admin/v1/policies/{vid}",
                                             headers=a1).json()["events"]]
    assert events == ["create", "propose", "approve", "activate", "rolled_back"]
    auditor = bearer(creds(data_dir)["auditor"]["token"])
    entries = client.get("/admin/v1/audit?kind=policy&limit=1000", headers=auditor).json()
    logged = [(e["entry"]["event"], e["entry"]["actor"], e["entry"]["version_id"])
              for e in entries["entries"] if e["entry"]["version_id"] == vid
              or e["entry"]["event"] == "rollback"]
    assert ("propose", "admin", vid) in logged and ("approve", "admin2", vid) in logged
    assert ("activate", "admin2", vid) in logged
    assert any(ev == "rollback" and actor == "admin" for ev, actor, _ in logged)


def test_failing_checks_refuse_proposal_and_reject(
        client: TestClient, admins: dict[str, dict[str, str]], seed_bundle: PolicyBundle) -> None:
    path = "gateway/decision.rego"
    broken = changed(seed_bundle, modules={
        path: seed_bundle.modules[path].replace("decision :=", "verdict :=")})
    vid = _draft(client, admins["admin"], broken, "renamed decision")
    r = _post(client, f"/{vid}/propose", admins["admin"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "checks_failed"
    assert any("[contract]" in reason for reason in r.json()["error"]["reasons"])
    ok = _draft(client, admins["admin"], _pseudonymizing(seed_bundle), "to reject")
    assert _post(client, f"/{ok}/propose", admins["admin"]).status_code == 200
    r = _post(client, f"/{ok}/reject", admins["admin"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "own_version"
    assert _post(client, f"/{ok}/reject", admins["admin2"], note="no").json()["state"] == \
        "rejected"
    r = _post(client, f"/{ok}/propose", admins["admin"])
    assert r.status_code == 409


def test_unknown_version_is_404(client: TestClient, admins: dict[str, dict[str, str]]) -> None:
    r = client.get("/admin/v1/policies/9999", headers=admins["admin"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "policy_version_not_found"


def test_export_import_round_trip_keeps_the_hash(data_dir: Path, tmp_path: Path,
                                                 seed_bundle: PolicyBundle) -> None:
    runner = CliRunner()
    out = tmp_path / "exported"
    r = runner.invoke(cli, ["policy", "export", "active", str(out), "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    assert load_policy_dir(out).hash == seed_bundle.hash
    r = runner.invoke(cli, ["policy", "import", str(out), "--actor", "admin", "--message",
                            "from git", "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    assert seed_bundle.hash in r.output
    r = runner.invoke(cli, ["policy", "list", "--data-dir", str(data_dir)])
    assert "from git" in r.output
