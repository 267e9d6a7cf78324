"""The application flow with PostgreSQL as the state database (real server, fresh schema):
submit, return, resubmit, approve narrowed, query, then a license suspended mid-way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.settings import Settings
from gateway.setup import init_data_dir
from tests.conftest import pg_schema
from tests.workflow.helpers import (
    Actors,
    application_body,
    license_body,
    make_actors,
    query,
    reasons,
    submit,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Actors]]:
    with pg_schema() as url:
        d = tmp_path_factory.mktemp("wf-pg")
        settings = Settings(data_dir=d, state_url=url)
        init_data_dir(settings, demo=True, rows=200, echo=lambda m: None)
        with TestClient(create_app(settings)) as c:
            yield c, make_actors(c, d)


def test_application_flow_on_postgres(pg_client: tuple[TestClient, Actors]) -> None:
    client, actors = pg_client
    app_id = submit(client, actors.op_a)
    r = client.post(f"/admin/v1/applications/{app_id}/approve", json={},
                    headers=actors.same_org_reviewer)
    assert r.status_code == 403 and r.json()["error"]["code"] == "same_org_review"
    r = client.post(f"/admin/v1/applications/{app_id}/return", headers=actors.reviewer,
                    json={"reason": "请补充安全保障措施"})
    assert r.status_code == 200 and r.json()["state"] == "returned"
    r = client.post(f"/v1/applications/{app_id}/resubmit", headers=actors.op_a,
                    json=application_body(client, actors.op_a))
    assert r.status_code == 200 and r.json()["state"] == "submitted"
    r = client.post(f"/admin/v1/applications/{app_id}/approve", headers=actors.reviewer,
                    json={"datasets": {"huji_renkou": {"fields": ["id", "region_code"]}}})
    assert r.status_code == 200, r.text
    assert client.post(f"/admin/v1/applications/{app_id}/reject", headers=actors.reviewer,
                       json={"reason": "x"}).status_code == 409
    doc = client.get(f"/v1/applications/{app_id}", headers=actors.op_a).json()
    assert [e["to"] for e in doc["events"]] == ["submitted", "returned", "submitted", "approved"]
    (gid,) = doc["grant_ids"]
    body = {"purpose": "wf_research", "fields": ["id", "region_code"], "limit": 5}
    r = query(client, actors.op_a, "huji_renkou", body)
    assert r.status_code == 200, r.text
    assert r.json()["rows"]
    r = query(client, actors.op_a, "huji_renkou", {**body, "fields": ["id", "name"]})
    assert r.status_code == 403
    grants = {g["id"]: g for g in client.get("/v1/grants", headers=actors.op_a).json()["grants"]}
    assert grants[gid]["source"] == f"application:{app_id}"

    r = client.post("/admin/v1/licenses", json=license_body("op-a"), headers=actors.admin)
    assert r.status_code == 201, r.text
    lic = r.json()
    lbody = {"purpose": "vehicle_market_analysis", "fields": ["id", "brand"],
             "grant_id": lic["grant_ids"][0]}
    assert query(client, actors.op_a, "cheliang_dengji", lbody).status_code == 200
    assert client.post(f"/admin/v1/licenses/{lic['id']}/suspend", json={},
                       headers=actors.admin).status_code == 200
    r = query(client, actors.op_a, "cheliang_dengji", lbody)
    assert r.status_code == 403 and any(x.startswith("grant_suspended") for x in reasons(r))
