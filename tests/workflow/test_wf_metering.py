"""Metering of paid licenses and the annual disclosure (API and ``pgw report disclosure``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway import state
from gateway.cli import app as cli
from gateway.errors import GatewayError
from gateway.grants import find_grant
from gateway.metering import meter_release, record_usage
from tests.workflow.helpers import ORG_A, ORG_B, Actors, license_body

YEAR = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).year


@pytest.fixture(scope="module")
def engine(wf_dir: Path) -> Any:
    eng = state.make_engine(f"sqlite:///{wf_dir / 'state.db'}")
    yield eng
    eng.dispose()


def _issue(client: TestClient, actors: Actors, operator: str, **over: Any) -> dict[str, Any]:
    r = client.post("/admin/v1/licenses", json=license_body(operator, **over),
                    headers=actors.admin)
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture(scope="module")
def lics(client: TestClient, actors: Actors) -> dict[str, dict[str, Any]]:
    this_year = dt.datetime(YEAR, 3, 1, tzinfo=dt.timezone.utc)
    return {
        "per_call": _issue(client, actors, "op-a", fee_mode="paid", unit="call",
                           price_cap=0.5, price=0.2, products=["车辆核验接口"]),
        "per_row": _issue(client, actors, "op-b", fee_mode="paid", unit="row",
                          price_cap="0.01", products=["车辆保有量明细"],
                          term_start=f"{YEAR - 1}-06-01T00:00:00+08:00"),
        "free": _issue(client, actors, "op-a", products=["公益出行研究"]),
        "old": _issue(client, actors, "op-b", term_start="2001-01-01T00:00:00+08:00",
                      term_end="2003-01-01T00:00:00+08:00"),
        "this_year": _issue(client, actors, "op-b", term_start=this_year.isoformat(),
                            term_end=(this_year + dt.timedelta(days=30)).isoformat()),
    }


def _grant(engine: Any, lic: dict[str, Any]) -> dict[str, Any]:
    g = find_grant(engine, lic["operator_id"], "cheliang_dengji", lic["grant_ids"][0])
    assert g is not None
    return g


@pytest.mark.parametrize("kw,code", [
    ({"price": "0.51"}, "price_above_cap"),
    ({"unit": "row"}, "unit_mismatch"),
    ({"dataset": "huji_renkou"}, "dataset_mismatch"),
    ({"quantity": 0}, "invalid_quantity"),
    ({"price": "-1"}, "invalid_price"),
    ({"price": "0.0000001"}, "invalid_price"),
    ({"at": dt.datetime(2001, 1, 1, tzinfo=dt.timezone.utc)}, "outside_term"),
])
def test_record_usage_refused(engine: Any, lics: dict[str, dict[str, Any]],
                              kw: dict[str, Any], code: str) -> None:
    args: dict[str, Any] = {"dataset": "cheliang_dengji", "unit": "call", "quantity": 1,
                            "price": "0.2", **kw}
    with pytest.raises(GatewayError) as exc:
        record_usage(engine, lics["per_call"]["grant_ids"][0], **args)
    assert exc.value.code == code


def test_free_and_hand_made_grants_are_not_metered(engine: Any, wf_dir: Path,
                                                   lics: dict[str, dict[str, Any]]) -> None:
    free = _grant(engine, lics["free"])
    assert meter_release(engine, free, "cheliang_dengji", 100) is None
    assert meter_release(engine, None, "cheliang_dengji", 100) is None
    with pytest.raises(GatewayError) as exc:
        record_usage(engine, free["id"], dataset="cheliang_dengji", unit="call", quantity=1,
                     price="0")
    assert exc.value.code == "not_paid_license"
    with pytest.raises(GatewayError) as exc:
        record_usage(engine, "g-demo-research", dataset="huji_renkou", unit="call",
                     quantity=1, price="0")
    assert exc.value.code == "not_paid_license"


def test_disclosure_totals(engine: Any, client: TestClient, actors: Actors, wf_dir: Path,
                           lics: dict[str, dict[str, Any]]) -> None:
    call, row = _grant(engine, lics["per_call"]), _grant(engine, lics["per_row"])
    for _ in range(3):
        assert meter_release(engine, call, "cheliang_dengji", 500) is not None  # 3 × 0.20
    record_usage(engine, call["id"], dataset="cheliang_dengji", unit="call", quantity=2,
                 price="0.5")                                                  # 2 × 0.50
    assert meter_release(engine, row, "cheliang_dengji", 250) is not None      # 250 × 0.01
    assert meter_release(engine, row, "cheliang_dengji", 0) is None
    last_year = dt.datetime(YEAR - 1, 6, 1, tzinfo=dt.timezone.utc)
    record_usage(engine, row["id"], dataset="cheliang_dengji", unit="row", quantity=1000,
                 price="0.01", at=last_year)

    r = client.get("/admin/v1/reports/disclosure", params={"year": YEAR}, headers=actors.admin)
    assert r.status_code == 200, r.text
    report = r.json()
    lines = {x["license_id"]: x for x in report["lines"]}
    assert lics["old"]["id"] not in lines  # term does not overlap the year
    assert {lics[k]["id"] for k in ("per_call", "per_row", "free", "this_year")} <= set(lines)
    c, w, f = (lines[lics[k]["id"]] for k in ("per_call", "per_row", "free"))
    assert (c["quantity"], c["revenue"], c["unit"], c["price_cap"]) == (5, "1.60", "call", "0.5")
    assert (w["quantity"], w["revenue"], w["unit"]) == (250, "2.50", "row")
    assert (f["fee_mode"], f["quantity"], f["revenue"]) == ("free", 0, "0.00")
    assert c["org_uscc"] == ORG_A and w["org_uscc"] == ORG_B
    assert c["operator_org"] == "测试 op-a" and c["products"] == ["车辆核验接口"]
    assert c["dataset_id"] == "cheliang_dengji" and c["registration_code"] == "DR-3601-0004"
    assert c["modes"] == ["rows"] and c["term_start"] and c["term_end"]
    assert report["totals"]["revenue"] == "4.10"
    assert report["totals"]["quantity_by_unit"] == {"call": 5, "row": 250}

    r = client.get("/admin/v1/reports/disclosure", params={"year": YEAR - 1},
                   headers=actors.admin)
    prev = {x["license_id"]: x for x in r.json()["lines"]}
    assert prev[lics["per_row"]["id"]]["revenue"] == "10.00"
    assert client.get("/admin/v1/reports/disclosure", params={"year": YEAR},
                      headers=actors.reviewer).status_code == 403

    out = wf_dir / "disclosure.csv"
    res = CliRunner().invoke(cli, ["report", "disclosure", "--year", str(YEAR), "--format",
                                   "csv", "--output", str(out), "--data-dir", str(wf_dir)])
    assert res.exit_code == 0, res.output
    rows = {x["license_id"]: x for x in csv.DictReader(io.StringIO(out.read_text()))}
    assert rows[lics["per_call"]["id"]]["revenue"] == "1.60"
    assert rows[lics["per_call"]["id"]]["org_uscc"] == ORG_A
    assert rows[lics["per_call"]["id"]]["products"] == "车辆核验接口"
    assert rows[lics["per_row"]["id"]]["quantity"] == "250"

    res = CliRunner().invoke(cli, ["report", "disclosure", "--year", str(YEAR), "--format",
                                   "json", "--data-dir", str(wf_dir)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["totals"]["revenue"] == "4.10"


def test_metering_records_are_rows_in_the_state_db(engine: Any) -> None:
    from gateway.metering import metering_records

    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(metering_records)).scalar()
    assert n and n >= 1
