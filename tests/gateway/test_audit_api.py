"""Audit through the gateway: every request leaves entries, the log verifies, auditors
(and only auditors) search, export and get proofs; `pgw audit verify` agrees."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.api.app import create_app
from gateway.auditlog import ConsistencyProof, InclusionProof
from gateway.cli import app as cli
from gateway.settings import Settings
from tests.gateway.helpers import bearer, creds


@pytest.fixture(scope="module")
def client(demo_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=demo_dir, audit_checkpoint_every=5))) as c:
        yield c


@pytest.fixture(scope="module")
def tok(demo_dir: Path) -> dict[str, str]:
    c = creds(demo_dir)
    return {"admin": c["admin"]["token"], "auditor": c["auditor"]["token"],
            "op": c["operators"]["op-research"]["token"]}


def test_only_auditors_read_the_log(client: TestClient, tok: dict[str, str]) -> None:
    for who in ("admin", "op"):
        r = client.get("/admin/v1/audit", headers=bearer(tok[who]))
        assert r.status_code == 403 and r.json()["error"]["code"] == "role_required"
    assert client.get("/admin/v1/audit", headers=bearer(tok["auditor"])).status_code == 200


def test_allowed_and_denied_requests_are_logged_and_verifiable(client: TestClient,
                                                                tok: dict[str, str]) -> None:
    for _ in range(3):  # enough entries (2 each) for a signed checkpoint every 5
        ok = client.post("/v1/datasets/huji_renkou/query", headers=bearer(tok["op"]),
                         json={"purpose": "population_research", "fields": ["name"],
                               "limit": 3})
    denied = client.post("/v1/datasets/huji_renkou/query", headers=bearer(tok["op"]),
                         json={"purpose": "marketing", "fields": ["name"]})
    assert ok.status_code == 200 and denied.status_code == 403
    aud = bearer(tok["auditor"])
    r = client.get("/admin/v1/audit", headers=aud,
                   params={"operator_id": "op-research", "dataset": "huji_renkou",
                           "decision": "deny"})
    denials = [e for e in r.json()["entries"] if e["request_id"] == denied.headers["X-Request-Id"]]
    assert len(denials) == 1
    assert "purpose_not_granted" in denials[0]["entry"]["decision"]["reasons"][0]
    mine = [e for e in client.get("/admin/v1/audit", headers=aud,
                                  params={"grant_id": "g-demo-research", "limit": 1000})
            .json()["entries"] if e["request_id"] == ok.headers["X-Request-Id"]]
    assert [e["kind"] for e in mine] == ["decision", "release"]
    release = mine[1]["entry"]
    assert release["receipt_id"] == ok.json()["receipt"]["receipt_id"]
    assert release["row_count"] == 3 and release["released_fields"] == {"name": "mask"}
    v = client.get("/admin/v1/audit/verify", headers=aud).json()
    assert v["ok"], v
    proof = InclusionProof.from_json(client.get(
        "/admin/v1/audit/proof/inclusion", headers=aud, params={"seq": mine[1]["seq"]}).json())
    assert base64.b64encode(proof.leaf_hash).decode() == mine[1]["leaf_hash"]
    proof.verify()
    cp = client.get("/admin/v1/audit/checkpoint", headers=aud).json()["checkpoint"]
    assert cp is not None and cp["size"] >= 5
    cons = ConsistencyProof.from_json(client.get(
        "/admin/v1/audit/proof/consistency", headers=aud,
        params={"old": cp["size"], "new": proof.tree_size}).json())
    cons.verify(old_root=base64.b64decode(cp["root"]), new_root=proof.root)


def test_export_ndjson_and_csv(client: TestClient, tok: dict[str, str]) -> None:
    aud = bearer(tok["auditor"])
    nd = client.get("/admin/v1/audit", headers=aud, params={"format": "ndjson"})
    entries = [json.loads(x) for x in nd.content.splitlines()]
    assert entries and [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    cs = client.get("/admin/v1/audit", headers=aud, params={"format": "csv"})
    lines = cs.text.splitlines()
    assert lines[0].startswith("seq,time,kind") and len(lines) == len(entries) + 1


def test_cli_verify_detects_an_edit(client: TestClient, demo_dir: Path,
                                    tmp_path: Path) -> None:
    client.post("/v1/datasets/qiye_dengji/query", headers=bearer(creds(demo_dir)["operators"][
        "op-hotline"]["token"]), json={"fields": ["company"], "limit": 1})
    runner = CliRunner()
    res = runner.invoke(cli, ["audit", "verify", "--data-dir", str(demo_dir)])
    assert res.exit_code == 0 and res.output.startswith("OK size="), res.output
    # Tamper with a copy of the state database: change one entry's text.
    import shutil

    copy = tmp_path / "d"
    shutil.copytree(demo_dir, copy)
    eng = sa.create_engine(f"sqlite:///{copy / 'state.db'}")
    with eng.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET entry = replace(entry, 'op-hotline', "
                             "'op-hotlinf') WHERE seq = (SELECT max(seq) FROM audit_log)"))
    eng.dispose()
    bad = runner.invoke(cli, ["audit", "verify", "--data-dir", str(copy)])
    assert bad.exit_code == 1 and "FAIL entry" in bad.output, bad.output
