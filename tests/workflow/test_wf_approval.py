"""Submitting and approving: agreement acceptance, what may be applied for, and approval
with narrowing, checked end to end through the query API (embedded OPA)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.workflow.helpers import (
    Actors,
    application_body,
    dataset_item,
    iso,
    now,
    query,
    reasons,
    submit,
)

PURPOSE = {"purpose": "wf_research"}


def test_agreements_are_published_with_their_hash(client: TestClient, actors: Actors) -> None:
    r = client.get("/v1/agreements", headers=actors.op_a)
    docs = {a["dataset_id"]: a for a in r.json()["agreements"]}
    assert {"huji_renkou", "cheliang_dengji", "shebao_jiaona"} <= set(docs)
    a = docs["huji_renkou"]
    assert a["sha256"] == hashlib.sha256(a["text"].encode("utf-8")).hexdigest()
    assert a["version"] == 1 and "第三方" in a["text"]


def _body_with(client: TestClient, actors: Actors, **item: Any) -> dict[str, Any]:
    body = application_body(client, actors.op_a)
    body["datasets"][0].update(item)
    return body


@pytest.mark.parametrize("change,status,code", [
    ({"agreement_sha256": "0" * 64}, 422, "agreement_mismatch"),
    ({"agreement_version": 9}, 422, "unknown_agreement"),
    ({"agreement_id": "dua-nope"}, 422, "unknown_agreement"),
    ({"agreement_sha256": "xyz"}, 422, "invalid_request"),
    ({"fields": ["id", "nope"]}, 422, "unknown_field"),
    ({"dataset_id": "nope"}, 404, "unknown_dataset"),
])
def test_submission_refused(client: TestClient, actors: Actors, change: dict[str, Any],
                            status: int, code: str) -> None:
    r = client.post("/v1/applications", headers=actors.op_a,
                    json=_body_with(client, actors, **change))
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


def test_agreement_of_another_dataset_refused(client: TestClient, actors: Actors) -> None:
    other = dataset_item(client, actors.op_a, "cheliang_dengji", ["id"])
    body = _body_with(client, actors, agreement_id=other["agreement_id"],
                      agreement_version=1, agreement_sha256=other["agreement_sha256"])
    r = client.post("/v1/applications", headers=actors.op_a, json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "agreement_not_for_dataset"


def test_what_may_be_applied_for(client: TestClient, actors: Actors) -> None:
    def attempt(ds: str, fields: list[str], modes: list[str]) -> Any:
        item = dataset_item(client, actors.op_a, ds, fields, modes)
        return client.post("/v1/applications", headers=actors.op_a,
                           json=application_body(client, actors.op_a, datasets=[item]))

    r = attempt("qiye_dengji", ["id"], ["rows"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_applicable"
    r = attempt("shebao_jiaona", ["id", "month"], ["rows"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_open_rows"
    r = attempt("shebao_jiaona", ["id", "month"], ["aggregate"])
    assert r.status_code == 201, r.text


def test_period_must_be_ordered_and_not_over(client: TestClient, actors: Actors) -> None:
    body = application_body(client, actors.op_a)
    body["period_to"] = body["period_from"]
    assert client.post("/v1/applications", headers=actors.op_a, json=body).status_code == 422
    body = application_body(client, actors.op_a)
    body["period_from"] = iso(now() - dt.timedelta(days=10))
    body["period_to"] = iso(now() - dt.timedelta(days=1))
    r = client.post("/v1/applications", headers=actors.op_a, json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_period"


def test_outdated_agreement_version_refused(client: TestClient, actors: Actors) -> None:
    old = dataset_item(client, actors.op_a, "tousu_gongdan", ["id", "category"])
    r = client.post("/admin/v1/agreements", headers=actors.admin, json={
        "id": old["agreement_id"], "dataset_id": "tousu_gongdan", "title": "投诉工单数据利用协议",
        "text": "第二版：增加成果报告义务。"})
    assert r.status_code == 201 and r.json()["version"] == 2
    r = client.post("/v1/applications", headers=actors.op_a, json=application_body(
        client, actors.op_a, datasets=[old]))
    assert r.status_code == 422 and r.json()["error"]["code"] == "agreement_outdated"
    new = dataset_item(client, actors.op_a, "tousu_gongdan", ["id", "category"])
    assert new["agreement_version"] == 2
    submit(client, actors.op_a, application_body(client, actors.op_a, datasets=[new]))


@pytest.fixture(scope="module")
def narrowed(client: TestClient, actors: Actors) -> dict[str, Any]:
    """op-b applied for id, name, gender, region_code of huji_renkou; approved narrowed to
    id, gender, region_code, rows of prefecture 3601 only, 7 days, 20 rows a request."""
    app_id = submit(client, actors.op_b)
    start = now() - dt.timedelta(minutes=5)
    r = client.post(f"/admin/v1/applications/{app_id}/approve", headers=actors.reviewer, json={
        "datasets": {"huji_renkou": {
            "fields": ["id", "gender", "region_code"],
            "row_filter": [{"field": "region_code", "op": "prefix", "value": "3601"}]}},
        "valid_from": iso(start), "valid_to": iso(start + dt.timedelta(days=7)),
        "quota": {"max_rows_per_request": 20}, "note": "姓名不属于最小必要范围"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_approval_creates_the_narrowed_grant(client: TestClient, actors: Actors,
                                             narrowed: dict[str, Any]) -> None:
    (gid,) = narrowed["grant_ids"]
    grants = {g["id"]: g for g in client.get("/v1/grants", headers=actors.op_b).json()["grants"]}
    g = grants[gid]
    assert g["kind"] == "application" and g["status"] == "active"
    assert g["source"] == f"application:{narrowed['id']}"
    assert g["fields"] == ["id", "gender", "region_code"]
    assert g["purposes"] == ["wf_research"] and g["modes"] == ["rows"]
    assert g["row_filter"] == [{"field": "region_code", "op": "prefix", "value": "3601"}]
    assert g["quota"] == {"max_rows_per_request": 20}
    assert g["valid_to"] == narrowed["approval"]["valid_to"]


def test_operator_queries_only_the_narrowed_fields(client: TestClient, actors: Actors,
                                                   narrowed: dict[str, Any]) -> None:
    r = query(client, actors.op_b, "huji_renkou",
              {**PURPOSE, "fields": ["id", "gender", "region_code"], "limit": 100})
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert rows and len(rows) <= 20
    assert all(row["region_code"].startswith("3601") for row in rows)
    assert set(rows[0]) == {"id", "gender", "region_code"}
    r = query(client, actors.op_b, "huji_renkou", {**PURPOSE, "fields": ["id", "name"]})
    assert r.status_code == 403
    assert any(x.startswith("field_not_granted") for x in reasons(r))
    r = query(client, actors.op_b, "huji_renkou", {"purpose": "marketing", "fields": ["id"]})
    assert r.status_code == 403
    assert any(x.startswith("purpose_not_granted") for x in reasons(r))
    # Another operator gets nothing from this approval.
    r = query(client, actors.op_a, "huji_renkou", {**PURPOSE, "fields": ["id"],
                                                   "grant_id": narrowed["grant_ids"][0]})
    assert r.status_code == 403


def test_grant_only_within_the_approved_period(client: TestClient, actors: Actors) -> None:
    item = dataset_item(client, actors.op_b, "cheliang_dengji", ["id", "brand"])
    body = application_body(client, actors.op_b, datasets=[item], days=60)
    app_id = submit(client, actors.op_b, body)
    later = now() + dt.timedelta(days=1)
    r = client.post(f"/admin/v1/applications/{app_id}/approve", headers=actors.reviewer,
                    json={"valid_from": iso(later), "valid_to": iso(later + dt.timedelta(days=5))})
    assert r.status_code == 200, r.text
    r = query(client, actors.op_b, "cheliang_dengji", {**PURPOSE, "fields": ["id", "brand"]})
    assert r.status_code == 403
    assert any(x.startswith("grant_not_yet_valid") for x in reasons(r))


@pytest.mark.parametrize("approval,status,code", [
    ({"datasets": {"huji_renkou": {"fields": ["id", "phone"]}}}, 422, "field_not_requested"),
    ({"datasets": {"cheliang_dengji": {}}}, 422, "dataset_not_requested"),
    ({"valid_to": "2999-01-01T00:00:00Z"}, 422, "period_extended"),
    ({"valid_from": "2000-01-01T00:00:00Z"}, 422, "period_extended"),
    ({"datasets": {"huji_renkou": {"row_filter": [{"field": "nope", "op": "eq",
                                                   "value": 1}]}}}, 422, "unknown_field"),
    ({"datasets": {"huji_renkou": {"row_filter": [{"field": "region_code", "op": "regex",
                                                   "value": "."}]}}}, 400, "bad_operator"),
    ({"quota": {"max_rows_per_request": -1}}, 422, "invalid_request"),
    ({"valid_from": "2030-01-01T00:00:00"}, 422, "invalid_request"),
])
def test_approval_may_only_narrow(client: TestClient, actors: Actors, approval: dict[str, Any],
                                  status: int, code: str) -> None:
    app_id = submit(client, actors.op_a)
    r = client.post(f"/admin/v1/applications/{app_id}/approve", headers=actors.reviewer,
                    json=approval)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    doc = client.get(f"/v1/applications/{app_id}", headers=actors.op_a).json()
    assert doc["state"] == "submitted" and doc["grant_ids"] == []
    grants = client.get("/v1/grants", headers=actors.op_a).json()["grants"]
    assert f"application:{app_id}" not in {g["source"] for g in grants}


def test_reject_and_return_need_a_reason(client: TestClient, actors: Actors) -> None:
    app_id = submit(client, actors.op_a)
    for action in ("reject", "return"):
        r = client.post(f"/admin/v1/applications/{app_id}/{action}", json={"reason": ""},
                        headers=actors.reviewer)
        assert r.status_code == 422
    r = client.post(f"/admin/v1/applications/{app_id}/reject", headers=actors.reviewer,
                    json={"reason": "用途与数据集开放条件不符"})
    assert r.status_code == 200
    doc = r.json()
    assert doc["state"] == "rejected" and doc["reason"] == "用途与数据集开放条件不符"
    assert doc["reviewer_id"] == "reviewer" and doc["grant_ids"] == []


def test_one_application_several_datasets(client: TestClient, actors: Actors) -> None:
    items = [dataset_item(client, actors.op_a, "huji_renkou", ["id", "gender"]),
             dataset_item(client, actors.op_a, "shebao_jiaona", ["id", "month"], ["aggregate"])]
    app_id = submit(client, actors.op_a, application_body(client, actors.op_a, datasets=items))
    r = client.post(f"/admin/v1/applications/{app_id}/approve", json={},
                    headers=actors.reviewer)
    assert r.status_code == 200, r.text
    grants = {g["id"]: g for g in client.get("/v1/grants", headers=actors.op_a).json()["grants"]}
    mine = [grants[g] for g in r.json()["grant_ids"]]
    assert {(g["dataset_id"], tuple(g["modes"])) for g in mine} == {
        ("huji_renkou", ("rows",)), ("shebao_jiaona", ("aggregate",))}
