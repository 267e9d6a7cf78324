"""Aggregate release through the real API: k-suppression against a reference computed from
the upstream, not-open data only as aggregates, dimension/measure/filter rules, the ε
budget, noise, receipts and audit entries."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.aggregate import canonical_cells
from gateway.auditlog import search
from gateway.privacy_budget import privacy_budget
from gateway.receipts import public_key_verifier, verify_receipt
from tests.products.conftest import Env

LABOUR = {"purpose": "labour_statistics"}
HUJI_FIELDS = ["region_code", "gender", "ethnicity", "birth_date", "id_card", "name"]
SHEBAO_FIELDS = ["region_code", "month", "base_salary", "employer", "id_card", "name"]


def agg(env: Env, dataset: str, body: dict[str, Any], **kw: Any) -> Any:
    return env.client.post(f"/v1/datasets/{dataset}/aggregate",
                           json={**LABOUR, **body, **kw}, headers=env.operator)


def reasons(r: Any) -> list[str]:
    return [x.split(":")[0] for x in r.json()["error"].get("reasons", [])]


@pytest.fixture(scope="module")
def huji_grant(env: Env) -> str:
    """Aggregates of conditional-open 户籍人口, restricted by the grant to regions 2*."""
    return env.grant("huji_renkou", HUJI_FIELDS, ["aggregate"],
                     row_filter=[{"field": "region_code", "op": "prefix", "value": "2"}])


@pytest.fixture(scope="module")
def shebao_grant(env: Env) -> str:
    """Aggregates (and, wrongly asked for, rows) of not-open 社保缴纳."""
    return env.grant("shebao_jiaona", SHEBAO_FIELDS, ["aggregate", "rows"])


def test_k_suppression_exact_against_upstream(env: Env, huji_grant: str) -> None:
    r = agg(env, "huji_renkou", {"dimensions": ["region_code", "gender"],
                                 "grant_id": huji_grant})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["k_min"] == 5 and body["epsilon"] is None
    ref = Counter((row.region_code, row.gender) for row in env.upstream(
        "SELECT region_code, gender FROM huji_renkou") if row.region_code.startswith("2"))
    got = {(c["dims"]["region_code"], c["dims"]["gender"]): c for c in body["cells"]}
    assert set(got) == set(ref)  # every group, no totals row, nothing outside the row filter
    for key, n in ref.items():
        cell = got[key]
        if n < 5:
            assert cell == {"dims": cell["dims"], "count": None, "suppressed": True}
        else:
            assert cell == {"dims": cell["dims"], "count": n, "suppressed": False}
    assert any(c["suppressed"] for c in body["cells"])
    assert any(not c["suppressed"] for c in body["cells"])


def test_measures_exact_and_thin_measures_withheld(env: Env, shebao_grant: str) -> None:
    r = agg(env, "shebao_jiaona", {
        "dimensions": ["region_code"], "grant_id": shebao_grant,
        "measures": [{"op": "sum", "field": "base_salary"}, {"op": "avg", "field": "base_salary"},
                     {"op": "min", "field": "base_salary"}, {"op": "max", "field": "base_salary"}]})
    assert r.status_code == 200, r.text
    groups: dict[str, list[float]] = defaultdict(list)
    for row in env.upstream("SELECT region_code, base_salary FROM shebao_jiaona"):
        groups[row.region_code].append(row.base_salary)
    cells = {c["dims"]["region_code"]: c for c in r.json()["cells"]}
    assert set(cells) == set(groups)
    for region, values in groups.items():
        cell = cells[region]
        if len(values) < 5:
            assert cell["suppressed"] and cell["count"] is None
            assert cell["sum_base_salary"] is cell["avg_base_salary"] is None
            assert cell["min_base_salary"] is cell["max_base_salary"] is None
            continue
        assert cell["count"] == len(values)
        assert cell["sum_base_salary"] == pytest.approx(sum(values))
        assert cell["avg_base_salary"] == pytest.approx(sum(values) / len(values))
        assert (cell["min_base_salary"], cell["max_base_salary"]) == (min(values), max(values))


def test_not_open_aggregate_with_grant_never_rows(env: Env, shebao_grant: str) -> None:
    assert agg(env, "shebao_jiaona", {"dimensions": ["month"],
                                      "grant_id": shebao_grant}).status_code == 200
    r = env.client.post("/v1/datasets/shebao_jiaona/query", headers=env.operator,
                        json={**LABOUR, "fields": ["region_code"], "grant_id": shebao_grant})
    assert r.status_code == 403 and "not_open_rows" in reasons(r)
    r = env.client.post("/v1/datasets/shebao_jiaona/aggregate", headers=env.researcher,
                        json={**LABOUR, "dimensions": ["month"]})
    assert r.status_code == 403 and reasons(r) == ["no_grant"]


def test_unconditional_aggregate_without_grant(env: Env) -> None:
    r = agg(env, "qiye_dengji", {"dimensions": ["industry"],
                                 "measures": [{"op": "avg", "field": "reg_capital"}]})
    assert r.status_code == 200, r.text
    ref = Counter(row.industry for row in env.upstream("SELECT industry FROM qiye_dengji"))
    assert {c["dims"]["industry"]: c["count"] for c in r.json()["cells"]} == {
        k: (n if n >= 5 else None) for k, n in ref.items()}


@pytest.mark.parametrize("body,status,code,reason", [
    ({"dimensions": ["id_card"]}, 403, "policy_denied", "dimension_not_allowed"),
    ({"dimensions": ["name", "region_code"]}, 403, "policy_denied", "dimension_not_allowed"),
    ({"dimensions": ["hh_no"]}, 403, "policy_denied", "dimension_not_allowed"),
    ({"dimensions": ["relation"]}, 403, "policy_denied", "field_not_granted"),
    ({"measures": [{"op": "sum", "field": "gender"}]}, 403, "policy_denied",
     "measure_not_allowed"),
    ({"dimensions": ["gender"], "filters": [{"field": "id_card", "op": "eq",
                                            "value": "11010519491231002X"}]},
     403, "filter_not_permitted", None),
    ({"dimensions": ["nope"]}, 400, "unknown_field", None),
    ({"measures": [{"op": "count", "field": "gender"}]}, 400, "bad_measure", None),
    ({"measures": [{"op": "median", "field": "gender"}]}, 422, "invalid_request", None),
    ({"purpose": "marketing", "dimensions": ["gender"]}, 403, "policy_denied",
     "purpose_not_granted"),
])
def test_refusals_say_why(env: Env, huji_grant: str, body: dict[str, Any], status: int,
                          code: str, reason: str | None) -> None:
    r = agg(env, "huji_renkou", {**body, "grant_id": huji_grant})
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    if reason is not None:
        assert reason in reasons(r)
    assert "11010519491231002X" not in r.text


def test_filters_on_dimensions_anded_with_row_filter(env: Env, huji_grant: str) -> None:
    r = agg(env, "huji_renkou", {"dimensions": ["gender"], "grant_id": huji_grant,
                                 "filters": [{"field": "region_code", "op": "prefix",
                                              "value": "22"}]})
    assert r.status_code == 200, r.text
    ref = Counter(row.gender for row in env.upstream(
        "SELECT gender FROM huji_renkou WHERE region_code LIKE '22%'"))
    assert {c["dims"]["gender"]: c["count"] for c in r.json()["cells"]} == dict(ref)


def test_mode_not_granted_and_k_raised_by_grant(env: Env) -> None:
    gid = env.grant("huji_renkou", ["region_code"], ["verify"])
    r = agg(env, "huji_renkou", {"dimensions": ["region_code"], "grant_id": gid})
    assert r.status_code == 403 and reasons(r) == ["mode_not_granted"]
    gid = env.grant("huji_renkou", ["region_code"], ["aggregate"], quota={"k_min": 12})
    r = agg(env, "huji_renkou", {"dimensions": ["region_code"], "grant_id": gid})
    assert r.status_code == 200 and r.json()["k_min"] == 12
    ref = Counter(row.region_code for row in env.upstream("SELECT region_code FROM huji_renkou"))
    assert {c["dims"]["region_code"]: c["count"] for c in r.json()["cells"]} == {
        k: (n if n >= 12 else None) for k, n in ref.items()}


def test_noise_only_with_epsilon(env: Env, huji_grant: str) -> None:
    body = {"dimensions": ["region_code", "gender"]}
    exact = [agg(env, "huji_renkou", {**body, "grant_id": huji_grant}).json()["cells"]
             for _ in range(2)]
    assert exact[0] == exact[1]
    gid = env.grant("huji_renkou", HUJI_FIELDS, ["aggregate"],
                    row_filter=[{"field": "region_code", "op": "prefix", "value": "2"}],
                    quota={"epsilon_per_request": 1, "epsilon_total": 100})
    released = []
    for _ in range(3):  # P(a Laplace(1) draw rounds to 0) ≈ 0.39: 3 × 8 cells all exact ≈ 1e-10
        r = agg(env, "huji_renkou", {**body, "grant_id": gid})
        assert r.status_code == 200, r.text
        assert r.json()["epsilon"] == 1
        noisy = r.json()["cells"]
        # Same groups, same suppression (decided on the true counts), other counts.
        assert [(c["dims"], c["suppressed"]) for c in noisy] == \
            [(c["dims"], c["suppressed"]) for c in exact[0]]
        released += [(a["count"], b["count"]) for a, b in zip(exact[0], noisy)
                     if not a["suppressed"]]
    assert len(released) >= 15 and any(x != y for x, y in released)
    assert all(isinstance(y, int) and y >= 0 for _, y in released)


def test_epsilon_budget_spent_then_exhausted(env: Env) -> None:
    gid = env.grant("shebao_jiaona", SHEBAO_FIELDS, ["aggregate"], quota={
        "epsilon_per_request": 1, "epsilon_total": 3,
        "clamp_min.base_salary": 0, "clamp_max.base_salary": 60000})
    body = {"dimensions": ["region_code"], "grant_id": gid,
            "measures": [{"op": "avg", "field": "base_salary"}]}
    for spent in (1, 2, 3):
        r = agg(env, "shebao_jiaona", body)
        assert r.status_code == 200, r.text
        assert r.json()["privacy_budget"] == {"spent": spent, "total": 3, "remaining": 3 - spent}
        for cell in r.json()["cells"]:
            if not cell["suppressed"] and cell["avg_base_salary"] is not None:
                assert 0 <= cell["avg_base_salary"] <= 60000
    r = agg(env, "shebao_jiaona", body)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "privacy_budget_exhausted"
    svc = env.client.app.state.services  # type: ignore[attr-defined]
    with svc.state_engine.connect() as conn:
        row = conn.execute(sa.select(privacy_budget).where(
            privacy_budget.c.budget_key == gid)).one()
    assert (row.spent_micro, row.requests) == (3_000_000, 3)
    refused = search(svc.state_engine, request_id=r.json()["error"]["request_id"]).entries
    assert [e.entry["decision"]["allow"] for e in refused] == [False]
    assert "privacy_budget_exhausted" in refused[0].entry["decision"]["reasons"][0]


def test_noisy_sum_needs_bounds_and_min_is_never_noisy(env: Env) -> None:
    gid = env.grant("shebao_jiaona", SHEBAO_FIELDS, ["aggregate"],
                    quota={"epsilon_per_request": 1})
    r = agg(env, "shebao_jiaona", {"dimensions": ["month"], "grant_id": gid,
                                   "measures": [{"op": "sum", "field": "base_salary"}]})
    assert r.status_code == 403 and reasons(r) == ["measure_not_bounded"]
    r = agg(env, "shebao_jiaona", {"dimensions": ["month"], "grant_id": gid,
                                   "measures": [{"op": "min", "field": "base_salary"}]})
    assert r.status_code == 403 and reasons(r) == ["measure_not_private"]


def test_receipt_and_audit_entries(env: Env, huji_grant: str) -> None:
    r = agg(env, "huji_renkou", {"dimensions": ["region_code"], "grant_id": huji_grant})
    assert r.status_code == 200
    body = r.json()
    receipt = body["receipt"]
    assert r.headers["Gateway-Receipt-Id"] == receipt["receipt_id"]
    verify_receipt(receipt, public_key_verifier(env.client.get("/v1/keys").json()["keys"]),
                   canonical_cells(body["cells"]))
    assert receipt["payload_sha256"] == hashlib.sha256(canonical_cells(body["cells"])).hexdigest()
    assert receipt["mode"] == "aggregate" and receipt["grant_id"] == huji_grant
    svc = env.client.app.state.services  # type: ignore[attr-defined]
    entries = search(svc.state_engine, request_id=body["request_id"]).entries
    assert [e.kind for e in entries] == ["decision", "release"]
    release = entries[1].entry
    suppressed = sum(c["suppressed"] for c in body["cells"])
    assert (release["cells_released"], release["cells_suppressed"]) == (
        len(body["cells"]) - suppressed, suppressed)
    assert release["receipt_signature"] == receipt["signature"]
    assert entries[0].entry["dimensions"] == ["region_code"]
    assert entries[0].entry["receipt_id"] == receipt["receipt_id"]
