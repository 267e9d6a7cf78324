"""Authorized-operation licenses: issuing (USCC, registration, fees) and status changes
that take effect on the very next request through the query API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.workflow.helpers import Actors, license_body, query, reasons

PURPOSE = {"purpose": "vehicle_market_analysis"}
FIELDS = {"fields": ["id", "brand", "region_code"], "limit": 5}


def _issue(client: TestClient, actors: Actors, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/admin/v1/licenses", json=body, headers=actors.admin)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _act(client: TestClient, actors: Actors, lic_id: str, action: str) -> Any:
    return client.post(f"/admin/v1/licenses/{lic_id}/{action}", json={"note": "测试"},
                       headers=actors.admin)


def _q(client: TestClient, actors: Actors, grant_id: str) -> Any:
    return query(client, actors.op_a, "cheliang_dengji",
                 {**PURPOSE, **FIELDS, "grant_id": grant_id})


def test_issue_creates_grants_with_source(client: TestClient, actors: Actors) -> None:
    lic = _issue(client, actors, license_body("op-a", fee_mode="paid", unit="call",
                                              price_cap="0.50", price="0.20"))
    assert lic["status"] == "active" and lic["org_uscc"] and lic["org_name"]
    assert lic["price_cap"] == "0.5" and lic["price"] == "0.2" and lic["unit"] == "call"
    assert lic["datasets"][0]["registration_code"] == "DR-3601-0004"
    (gid,) = lic["grant_ids"]
    grants = {g["id"]: g for g in client.get("/v1/grants", headers=actors.op_a).json()["grants"]}
    g = grants[gid]
    assert g["kind"] == "license" and g["fee_mode"] == "paid"
    assert g["source"] == f"license:{lic['id']}" and g["modes"] == ["rows"]
    assert g["purposes"] == ["vehicle_market_analysis"]
    mine = client.get("/v1/licenses", headers=actors.op_a).json()["licenses"]
    assert lic["id"] in {x["id"] for x in mine}
    theirs = client.get("/v1/licenses", headers=actors.op_b).json()["licenses"]
    assert lic["id"] not in {x["id"] for x in theirs}


def test_suspend_resume_revoke_take_effect_on_next_request(client: TestClient,
                                                           actors: Actors) -> None:
    lic = _issue(client, actors, license_body("op-a"))
    (gid,) = lic["grant_ids"]
    assert _q(client, actors, gid).status_code == 200
    assert _act(client, actors, lic["id"], "suspend").json()["status"] == "suspended"
    r = _q(client, actors, gid)
    assert r.status_code == 403 and any(x.startswith("grant_suspended") for x in reasons(r))
    assert _act(client, actors, lic["id"], "resume").json()["status"] == "active"
    assert _q(client, actors, gid).status_code == 200
    assert _act(client, actors, lic["id"], "revoke").json()["status"] == "revoked"
    r = _q(client, actors, gid)
    assert r.status_code == 403 and any(x.startswith("grant_revoked") for x in reasons(r))
    for action in ("resume", "suspend", "expire", "revoke"):
        r = _act(client, actors, lic["id"], action)
        assert r.status_code == 409 and r.json()["error"]["code"] == "illegal_transition"
    assert _q(client, actors, gid).status_code == 403
    doc = client.get(f"/admin/v1/licenses/{lic['id']}", headers=actors.admin).json()
    assert [(e["action"], e["to"]) for e in doc["events"]] == [
        ("issue", "active"), ("suspend", "suspended"), ("resume", "active"),
        ("revoke", "revoked")]
    terminated = dt.datetime.fromisoformat(doc["terminated_at"])
    due = dt.datetime.fromisoformat(doc["destruction_due"])
    assert due - terminated == dt.timedelta(days=30)


def test_expire_takes_effect_and_is_final(client: TestClient, actors: Actors) -> None:
    lic = _issue(client, actors, license_body("op-a"))
    (gid,) = lic["grant_ids"]
    assert _act(client, actors, lic["id"], "suspend").status_code == 200
    assert _act(client, actors, lic["id"], "expire").json()["status"] == "expired"
    r = _q(client, actors, gid)
    assert r.status_code == 403 and any(x.startswith("grant_expired") for x in reasons(r))
    assert _act(client, actors, lic["id"], "resume").status_code == 409


def test_license_grants_change_only_through_the_license(client: TestClient,
                                                        actors: Actors) -> None:
    lic = _issue(client, actors, license_body("op-a"))
    (gid,) = lic["grant_ids"]
    r = client.post(f"/admin/v1/grants/{gid}/status", json={"status": "suspended"},
                    headers=actors.admin)
    assert r.status_code == 409 and r.json()["error"]["code"] == "managed_by_license"
    assert _q(client, actors, gid).status_code == 200


def test_license_term_is_enforced(client: TestClient, actors: Actors) -> None:
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=10)
    lic = _issue(client, actors, license_body(
        "op-a", term_start=later.isoformat(), term_end=(later + dt.timedelta(days=700))
        .isoformat()))
    r = _q(client, actors, lic["grant_ids"][0])
    assert r.status_code == 403 and any(x.startswith("grant_not_yet_valid") for x in reasons(r))


def test_license_on_unregistered_dataset_refused(client: TestClient, actors: Actors) -> None:
    spec = next(d for d in client.get("/admin/v1/datasets", headers=actors.admin)
                .json()["datasets"] if d["id"] == "cheliang_dengji")
    spec = {**spec, "id": "cheliang_unregistered", "registration_code": None}
    r = client.post("/admin/v1/datasets", json=spec, headers=actors.admin)
    assert r.status_code == 201, r.text
    r = client.post("/admin/v1/licenses", headers=actors.admin,
                    json=license_body("op-a", dataset_id="cheliang_unregistered"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "unregistered_dataset"
    assert "cheliang_unregistered" not in {
        g["dataset_id"] for g in client.get("/v1/grants", headers=actors.op_a).json()["grants"]}


@pytest.mark.parametrize("over,status,code", [
    ({"operator_id": "op-noorg"}, 422, "invalid_uscc"),
    ({"operator_id": "reviewer"}, 422, "invalid_role"),
    ({"operator_id": "nobody"}, 422, "unknown_principal"),
    ({"fee_mode": "paid"}, 422, "invalid_request"),
    ({"fee_mode": "paid", "unit": "call", "price_cap": "0.1", "price": "0.2"}, 422,
     "invalid_request"),
    ({"fee_mode": "free", "price_cap": "0.1"}, 422, "invalid_request"),
    ({"fee_mode": "paid", "unit": "call", "price_cap": "0.0000001"}, 422, "invalid_request"),
    ({"modes": ["teleport"]}, 422, "invalid_request"),
    ({"term_end": "2000-01-01T00:00:00Z"}, 422, "invalid_request"),
    ({"datasets": [{"dataset_id": "cheliang_dengji", "fields": ["nope"]}]}, 422,
     "unknown_field"),
    ({"datasets": [{"dataset_id": "shebao_jiaona", "fields": ["id"]}]}, 422, "not_open_rows"),
])
def test_license_refused(client: TestClient, actors: Actors, over: dict[str, Any],
                         status: int, code: str) -> None:
    r = client.post("/admin/v1/licenses", json={**license_body("op-a"), **over},
                    headers=actors.admin)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


def test_not_open_licensed_for_aggregate(client: TestClient, actors: Actors) -> None:
    lic = _issue(client, actors, license_body(
        "op-a", modes=["aggregate", "verify"],
        datasets=[{"dataset_id": "shebao_jiaona", "fields": ["id", "month", "region_code"]}]))
    assert lic["modes"] == ["aggregate", "verify"]


def test_only_admins_issue_and_change(client: TestClient, actors: Actors) -> None:
    lic = _issue(client, actors, license_body("op-a"))
    for headers in (actors.op_a, actors.reviewer):
        r = client.post("/admin/v1/licenses", json=license_body("op-a"), headers=headers)
        assert r.status_code == 403
        assert _act_as(client, headers, lic["id"], "revoke").status_code == 403
    assert client.get(f"/admin/v1/licenses/{lic['id']}", headers=actors.admin) \
        .json()["status"] == "active"
    r = client.post(f"/admin/v1/licenses/{lic['id']}/explode", json={}, headers=actors.admin)
    assert r.status_code == 422


def _act_as(client: TestClient, headers: dict[str, str], lic_id: str, action: str) -> Any:
    return client.post(f"/admin/v1/licenses/{lic_id}/{action}", json={}, headers=headers)
