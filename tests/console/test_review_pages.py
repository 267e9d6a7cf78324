"""Reviewer pages: queue, detail with sensitivities and open class, approve with
narrowing, return, reject — the same state machine and grants as the API."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.auditlog import search
from gateway.state import make_engine
from tests.console.helpers import sign_in
from tests.workflow.helpers import application_body, bearer, submit


def _operator(console_dir: Path) -> dict[str, str]:
    import json

    creds = json.loads((console_dir / "demo-credentials.json").read_text("utf-8"))
    return bearer(creds["operators"]["op-research"]["token"])


def _engine(d: Path) -> sa.Engine:
    return make_engine(f"sqlite:///{(d / 'state.db').resolve()}")


def test_approve_with_narrowing_creates_a_narrower_grant(client: TestClient,
                                                         console_dir: Path) -> None:
    op = _operator(console_dir)
    app_id = submit(client, op, application_body(client, op, purpose="console_review"))
    csrf = sign_in(client, console_dir, "reviewer")
    queue = client.get("/console/review/applications")
    assert queue.status_code == 200 and f'data-id="{app_id}"' in queue.text
    page = client.get(f"/console/review/applications/{app_id}")
    assert page.status_code == 200
    assert 'data-testid="open-class"' in page.text and "有条件开放" in page.text
    assert 'data-testid="keep-huji_renkou-name"' in page.text
    r = client.post(f"/console/review/applications/{app_id}/approve", data={
        "csrf_token": csrf, "fields:huji_renkou": ["id", "gender", "region_code"],
        "quota:rows_per_day": "500", "note": "姓名不予批准"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert "done=application_approved" in r.headers["location"]
    doc = client.get(f"/v1/applications/{app_id}", headers=op).json()
    assert doc["state"] == "approved"
    (grant_id,) = doc["grant_ids"]
    approved = doc["approval"]["datasets"]["huji_renkou"]
    assert approved["fields"] == ["id", "gender", "region_code"]
    assert approved["quota"] == {"rows_per_day": 500}
    # The operator now queries under the narrowed grant: name is refused, the rest flows.
    ok = client.post("/v1/datasets/huji_renkou/query", headers=op, json={
        "purpose": "console_review", "grant_id": grant_id, "fields": ["id", "gender"],
        "limit": 2})
    assert ok.status_code == 200, ok.text
    denied = client.post("/v1/datasets/huji_renkou/query", headers=op, json={
        "purpose": "console_review", "grant_id": grant_id, "fields": ["name"], "limit": 2})
    assert denied.status_code == 403
    entries = search(_engine(console_dir), kind="console", limit=500).entries
    assert any(e.entry.get("event") == "application_approve" and e.entry["target"] == app_id
               and e.entry["principal"]["operator_id"] == "reviewer" for e in entries)


def test_approval_cannot_widen_or_drop_every_field(client: TestClient,
                                                   console_dir: Path) -> None:
    op = _operator(console_dir)
    app_id = submit(client, op, application_body(client, op, purpose="console_widen"))
    csrf = sign_in(client, console_dir, "reviewer")
    r = client.post(f"/console/review/applications/{app_id}/approve", data={
        "csrf_token": csrf, "fields:huji_renkou": ["id", "id_number"]})
    assert r.status_code == 422 and "field_not_requested" in r.text
    r = client.post(f"/console/review/applications/{app_id}/approve",
                    data={"csrf_token": csrf})
    assert r.status_code == 400 and "no_fields_kept" in r.text
    r = client.post(f"/console/review/applications/{app_id}/approve", data={
        "csrf_token": csrf, "fields:huji_renkou": ["id"], "valid_to": "not-a-date"})
    assert r.status_code == 400 and "bad_date" in r.text
    assert client.get(f"/v1/applications/{app_id}", headers=op).json()["state"] == "submitted"


def test_return_and_reject_need_a_reason(client: TestClient, console_dir: Path) -> None:
    op = _operator(console_dir)
    first = submit(client, op, application_body(client, op, purpose="console_return"))
    second = submit(client, op, application_body(client, op, purpose="console_reject"))
    csrf = sign_in(client, console_dir, "reviewer")
    r = client.post(f"/console/review/applications/{first}/return",
                    data={"csrf_token": csrf, "reason": " "})
    assert r.status_code == 422 and "reason_required" in r.text
    r = client.post(f"/console/review/applications/{first}/return",
                    data={"csrf_token": csrf, "reason": "请补充安全措施"},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/console/review/applications/{second}/reject",
                    data={"csrf_token": csrf, "reason": "用途不明确"}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/v1/applications/{first}", headers=op).json()["state"] == "returned"
    assert client.get(f"/v1/applications/{second}", headers=op).json()["state"] == "rejected"
    # A decided application offers no more buttons.
    page = client.get(f"/console/review/applications/{second}").text
    assert 'data-testid="approve"' not in page
    assert re.search(r'data-testid="application-state">[^<]*已驳回', page)


def test_reviewer_pages_need_the_reviewer_role(client: TestClient, console_dir: Path) -> None:
    csrf = sign_in(client, console_dir, "auditor")
    assert client.get("/console/review/applications").status_code == 403
    r = client.post("/console/review/applications/x/reject",
                    data={"csrf_token": csrf, "reason": "x"})
    assert r.status_code == 403
    sign_in(client, console_dir, "reviewer")
    assert client.get("/console/review/applications?state=bogus").status_code == 400
