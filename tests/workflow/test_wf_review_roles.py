"""Separation of roles around applications: who may submit, review and decide."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.workflow.helpers import Actors, submit


def _state(client: TestClient, actors: Actors, app_id: str) -> str:
    r = client.get(f"/admin/v1/applications/{app_id}", headers=actors.reviewer)
    return str(r.json()["state"])


@pytest.mark.parametrize("action,body", [
    ("approve", {}), ("reject", {"reason": "x"}), ("return", {"reason": "x"}),
])
def test_reviewer_from_the_applicants_org_is_refused(client: TestClient, actors: Actors,
                                                     action: str, body: dict[str, str]) -> None:
    app_id = submit(client, actors.op_a)
    r = client.post(f"/admin/v1/applications/{app_id}/{action}", json=body,
                    headers=actors.same_org_reviewer)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "same_org_review"
    assert _state(client, actors, app_id) == "submitted"


def test_reviewer_cannot_approve_own_application(client: TestClient, actors: Actors) -> None:
    app_id = submit(client, actors.dual_operator)
    r = client.post(f"/admin/v1/applications/{app_id}/approve", json={},
                    headers=actors.dual_reviewer)
    assert r.status_code == 403 and r.json()["error"]["code"] == "own_application"
    assert _state(client, actors, app_id) == "submitted"
    # Another org's reviewer may.
    r = client.post(f"/admin/v1/applications/{app_id}/approve", json={},
                    headers=actors.reviewer)
    assert r.status_code == 200 and r.json()["state"] == "approved"


def test_reviewer_without_org_cannot_decide(client: TestClient, actors: Actors) -> None:
    app_id = submit(client, actors.op_b)
    r = client.post(f"/admin/v1/applications/{app_id}/approve", json={},
                    headers=actors.orgless_reviewer)
    assert r.status_code == 403 and r.json()["error"]["code"] == "reviewer_org_unknown"


@pytest.mark.parametrize("who", ["op_a", "op_b", "admin"])
def test_operators_and_admins_cannot_review(client: TestClient, actors: Actors,
                                            who: str) -> None:
    app_id = submit(client, actors.op_a)
    headers = getattr(actors, who)
    for path in (f"/admin/v1/applications/{app_id}/approve",
                 f"/admin/v1/applications/{app_id}/reject"):
        r = client.post(path, json={"reason": "x"} if "reject" in path else {},
                        headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "role_required"
    r = client.get("/admin/v1/applications", headers=headers)
    assert r.status_code == 403
    assert _state(client, actors, app_id) == "submitted"


def test_reviewers_and_admins_cannot_apply(client: TestClient, actors: Actors) -> None:
    for headers in (actors.reviewer, actors.admin):
        r = client.post("/v1/applications", json={}, headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "role_required"


def test_reviewer_cannot_issue_licenses(client: TestClient, actors: Actors) -> None:
    r = client.get("/admin/v1/licenses", headers=actors.reviewer)
    assert r.status_code == 403 and r.json()["error"]["code"] == "role_required"


def test_queue_and_detail_show_what_the_reviewer_weighs(client: TestClient,
                                                        actors: Actors) -> None:
    app_id = submit(client, actors.op_b)
    queue = client.get("/admin/v1/applications", params={"state": "submitted"},
                       headers=actors.reviewer)
    assert queue.status_code == 200
    assert app_id in {a["id"] for a in queue.json()["applications"]}
    assert {a["state"] for a in queue.json()["applications"]} == {"submitted"}
    doc = client.get(f"/admin/v1/applications/{app_id}", headers=actors.reviewer).json()
    (item,) = doc["datasets"]
    assert item["dataset"]["open_class"] == "conditional"
    assert item["dataset"]["registration_code"] == "DR-3601-0001"
    details = {f["name"]: f for f in item["field_details"]}
    assert details["name"]["pii"] == "PERSON" and details["name"]["level"] == 3
    assert details["region_code"]["pii"] is None and details["region_code"]["level"] == 1
    assert doc["scenario"] and doc["security_measures"] and doc["org_uscc"]


def test_queue_by_state(client: TestClient, actors: Actors) -> None:
    app_id = submit(client, actors.op_b)
    client.post(f"/v1/applications/{app_id}/withdraw", json={}, headers=actors.op_b)
    for state, present in (("submitted", False), ("withdrawn", True), ("all", True)):
        r = client.get("/admin/v1/applications", params={"state": state},
                       headers=actors.reviewer)
        assert r.status_code == 200
        assert (app_id in {a["id"] for a in r.json()["applications"]}) is present
    r = client.get("/admin/v1/applications", params={"state": "nope"}, headers=actors.reviewer)
    assert r.status_code == 422
