"""Auditor pages: search with cursor pages, an entry with its receipt and a proof that
verifies offline, verification status, charts, anomalies, export — and never personal
data in clear."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from fastapi.testclient import TestClient

from gateway.auditlog import parse_note, verify_checkpoint, verify_inclusion
from gateway.auditlog.merkle import leaf_hash
from gateway.services import open_keyring
from gateway.settings import Settings
from gateway.state import make_engine
from tests.console.helpers import sign_in
from tests.gateway.helpers import bearer, creds

SECRET_NAME = "欧阳娜娜测试"


def _traffic(client: TestClient, data_dir: Path) -> None:
    op = bearer(creds(data_dir)["operators"]["op-research"]["token"])
    for _ in range(3):
        r = client.post("/v1/datasets/huji_renkou/query", headers=op, json={
            "purpose": "population_research", "fields": ["name", "gender"], "limit": 3})
        assert r.status_code == 200, r.text
    # Denied, with a personal value in a filter: the log must hold only its keyed hash.
    r = client.post("/v1/datasets/huji_renkou/query", headers=op, json={
        "purpose": "population_research", "fields": ["gender"],
        "filters": [{"field": "name", "op": "eq", "value": SECRET_NAME}]})
    assert r.status_code in (400, 403), r.text


def test_search_entry_receipt_and_proof(client: TestClient, console_dir: Path) -> None:
    _traffic(client, console_dir)
    sign_in(client, console_dir, "auditor")
    page = client.get("/console/audit/entries", params={"grant_id": "g-demo-research",
                                                        "kind": "release", "limit": 2})
    assert page.status_code == 200 and page.text.count('data-testid="audit-row"') == 2
    assert 'data-testid="next-page"' in page.text
    nxt = page.text.split('data-testid="next-page"')[0].rsplit('href="', 1)[1].split('"')[0]
    page2 = client.get(nxt.replace("&amp;", "&"))
    assert page2.status_code == 200 and 'data-kind="release"' in page2.text
    seq = int(page.text.split('data-seq="', 1)[1].split('"', 1)[0])
    # Enough entries for a signed checkpoint (every 5) to cover it.
    detail = client.get(f"/console/audit/entries/{seq}")
    assert detail.status_code == 200
    assert 'data-testid="receipt"' in detail.text
    assert 'data-testid="entry-status">已验证' in detail.text
    doc = client.get(f"/console/audit/entries/{seq}/proof.json")
    assert doc.status_code == 200 and "attachment" in doc.headers["content-disposition"]
    proof = doc.json()
    # Offline check: leaf -> leaf hash -> audit path -> signed checkpoint root.
    assert leaf_hash(proof["leaf"].encode()) == base64.b64decode(proof["leaf_hash"])
    cp = parse_note(proof["checkpoint_note"])
    inc = proof["inclusion"]
    verify_inclusion(base64.b64decode(inc["leaf_hash"]), inc["leaf_index"], inc["tree_size"],
                     [base64.b64decode(h) for h in inc["hashes"]], cp.root)
    ring = open_keyring(Settings(data_dir=console_dir),
                        make_engine(f"sqlite:///{(console_dir / 'state.db').resolve()}"))
    verify_checkpoint(cp, ring.verify)
    assert json.loads(proof["leaf"])["seq"] == seq


def test_verify_charts_anomalies_export(client: TestClient, console_dir: Path) -> None:
    _traffic(client, console_dir)
    sign_in(client, console_dir, "auditor")
    v = client.get("/console/audit/verify")
    assert v.status_code == 200 and 'data-testid="verify-status">校验通过' in v.text
    c = client.get("/console/audit/charts?days=3")
    assert c.status_code == 200 and 'data-name="g-demo-research"' in c.text
    assert '<rect class="bar-rows"' in c.text
    a = client.get("/console/audit/anomalies")
    assert a.status_code == 200 and ("anomaly-list" in a.text or "anomaly-none" in a.text)
    csv_ = client.get("/console/audit/export", params={"format": "csv", "kind": "release"})
    assert csv_.status_code == 200 and csv_.text.startswith("seq,time,kind")
    nd = client.get("/console/audit/export", params={"format": "ndjson"})
    lines = [json.loads(x) for x in nd.text.splitlines()]
    assert lines and all("seq" in x for x in lines)
    assert any(x["entry"].get("event") == "audit_export" for x in lines)  # audited


def test_no_personal_value_in_any_audit_view(client: TestClient, console_dir: Path) -> None:
    _traffic(client, console_dir)
    sign_in(client, console_dir, "auditor")
    denied = client.get("/console/audit/entries", params={"decision": "deny", "limit": 500})
    assert 'data-testid="audit-row"' in denied.text
    seqs = [int(s.split('"')[0]) for s in denied.text.split('data-seq="')[1:]]
    texts = [denied.text] + [client.get(f"/console/audit/entries/{s}").text for s in seqs]
    texts.append(client.get("/console/audit/export", params={"format": "ndjson"}).text)
    assert not any(SECRET_NAME in t for t in texts)
    assert any("hmac-sha256:" in t for t in texts)


def test_bad_input_is_a_4xx_page_and_roles_are_enforced(client: TestClient,
                                                        console_dir: Path) -> None:
    sign_in(client, console_dir, "auditor")
    r = client.get("/console/audit/entries", params={"since": "yesterday"})
    assert r.status_code == 400 and "bad_time" in r.text
    r = client.get("/console/audit/entries", params={"cursor": "!!"})
    assert r.status_code == 400
    assert client.get("/console/audit/entries/999999").status_code == 404
    sign_in(client, console_dir, "admin")
    for path in ("/console/audit/entries", "/console/audit/verify", "/console/audit/charts",
                 "/console/audit/anomalies", "/console/audit/trace"):
        assert client.get(path).status_code == 403, path
