"""Helpers for the workflow tests: principals, tokens, application and license bodies."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

# Checksum-valid USCCs from DOMAIN.md, for orgs the tests create.
ORG_A = "91310110666007217T"
ORG_B = "91310115591693856A"


@dataclass(frozen=True)
class Actors:
    """Bearer headers for every role the tests act as."""

    admin: dict[str, str]
    reviewer: dict[str, str]       # demo data authority reviewer
    op_a: dict[str, str]           # operator of org A
    op_b: dict[str, str]           # operator of org B
    same_org_reviewer: dict[str, str]  # reviewer of org A
    dual_operator: dict[str, str]  # principal "dual" (org B), its operator key
    dual_reviewer: dict[str, str]  # the same principal's reviewer key
    orgless_reviewer: dict[str, str]
    orgless_operator_id: str


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _principal(client: TestClient, admin: dict[str, str], pid: str, roles: list[str],
               org: str | None) -> dict[str, dict[str, str]]:
    r = client.post("/admin/v1/principals", headers=admin,
                    json={"id": pid, "name": f"测试 {pid}", "roles": roles, "org_uscc": org})
    assert r.status_code == 201, r.text
    keys = {}
    for role in roles:
        r = client.post(f"/admin/v1/principals/{pid}/keys", json={"role": role}, headers=admin)
        assert r.status_code == 201, r.text
        keys[role] = bearer(r.json()["token"])
    return keys


def make_actors(client: TestClient, data_dir: Path) -> Actors:
    creds = json.loads((data_dir / "demo-credentials.json").read_text())
    admin = bearer(creds["admin"]["token"])
    dual = _principal(client, admin, "dual", ["operator", "reviewer"], ORG_B)
    _principal(client, admin, "op-noorg", ["operator"], None)
    return Actors(
        admin=admin, reviewer=bearer(creds["reviewer"]["token"]),
        op_a=_principal(client, admin, "op-a", ["operator"], ORG_A)["operator"],
        op_b=_principal(client, admin, "op-b", ["operator"], ORG_B)["operator"],
        same_org_reviewer=_principal(client, admin, "rev-a", ["reviewer"], ORG_A)["reviewer"],
        dual_operator=dual["operator"], dual_reviewer=dual["reviewer"],
        orgless_reviewer=_principal(client, admin, "rev-noorg", ["reviewer"], None)["reviewer"],
        orgless_operator_id="op-noorg",
    )


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def iso(ts: dt.datetime) -> str:
    return ts.isoformat()


def agreement(client: TestClient, headers: dict[str, str], dataset_id: str) -> dict[str, Any]:
    r = client.get("/v1/agreements", params={"dataset_id": dataset_id}, headers=headers)
    assert r.status_code == 200, r.text
    (doc,) = r.json()["agreements"]
    return dict(doc)


def dataset_item(client: TestClient, headers: dict[str, str], dataset_id: str,
                 fields: list[str], modes: list[str] | None = None) -> dict[str, Any]:
    a = agreement(client, headers, dataset_id)
    return {"dataset_id": dataset_id, "fields": fields, "modes": modes or ["rows"],
            "agreement_id": a["id"], "agreement_version": a["version"],
            "agreement_sha256": a["sha256"]}


def application_body(client: TestClient, headers: dict[str, str], *,
                     datasets: list[dict[str, Any]] | None = None, purpose: str = "wf_research",
                     days: int = 30) -> dict[str, Any]:
    start = now() - dt.timedelta(hours=1)
    return {
        "datasets": datasets or [dataset_item(client, headers, "huji_renkou",
                                              ["id", "name", "gender", "region_code"])],
        "purpose": purpose, "scenario": "人口结构分析平台 v2",
        "period_from": iso(start), "period_to": iso(start + dt.timedelta(days=days)),
        "security_measures": "等保三级机房；访问留痕；数据加密存储；专人专岗。",
    }


def submit(client: TestClient, headers: dict[str, str], body: dict[str, Any] | None = None
           ) -> str:
    r = client.post("/v1/applications", headers=headers,
                    json=body or application_body(client, headers))
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "submitted"
    return str(r.json()["id"])


def license_body(operator_id: str, dataset_id: str = "cheliang_dengji", **over: Any
                 ) -> dict[str, Any]:
    start = now() - dt.timedelta(days=1)
    body: dict[str, Any] = {
        "operator_id": operator_id,
        "datasets": [{"dataset_id": dataset_id,
                      "fields": ["id", "vehicle_type", "brand", "region_code"]}],
        "modes": ["rows"], "purposes": ["vehicle_market_analysis"],
        "scenarios": ["汽车市场分析产品"], "products": ["车辆保有量分析"],
        "term_start": iso(start), "term_end": iso(start + dt.timedelta(days=3 * 365)),
        "fee_mode": "free", "security_responsibility": "运营机构承担数据安全主体责任。",
        "destruction_days": 30,
    }
    body.update(over)
    return body


def query(client: TestClient, headers: dict[str, str], dataset_id: str,
          body: dict[str, Any]) -> Any:
    return client.post(f"/v1/datasets/{dataset_id}/query", json=body, headers=headers)


def reasons(resp: Any) -> list[str]:
    return list(resp.json()["error"].get("reasons", []))
