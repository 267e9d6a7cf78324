"""Metering of paid licenses and the annual public disclosure (年度公开披露).

Every release under a grant of a paid license writes a metering record: grant, dataset
(product), unit, quantity and the unit price, which may never exceed the license's cap.
Free (public-welfare) grants are not metered. Money is kept in integer micro-yuan.

The disclosure lists every license in force during a calendar year (China Standard Time,
UTC+8), one line per grant: operator org and USCC, products and dataset, modes, fee
mode, unit, quantity, revenue (Σ quantity × price) and term.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

import sqlalchemy as sa

from gateway import state
from gateway.clock import CST, rfc3339
from gateway.clock import as_utc as utc
from gateway.errors import NotFound, Unprocessable
from gateway.licenses import MICROS, from_micros, licenses, to_micros

metering_records = sa.Table(
    "metering_records",
    state.metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("grant_id", sa.String(64), nullable=False),
    sa.Column("license_id", sa.String(32), nullable=False),
    sa.Column("operator_id", sa.String(64), nullable=False),
    sa.Column("dataset_id", sa.String(64), nullable=False),
    sa.Column("unit", sa.String(16), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("price_micros", sa.BigInteger, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_metering_grant_time", "grant_id", "recorded_at"),
)

DISCLOSURE_COLUMNS = ["year", "license_id", "grant_id", "operator_org", "org_uscc",
                      "products", "dataset_id", "dataset_title", "registration_code", "modes",
                      "purposes", "fee_mode", "unit", "price_cap", "quantity", "revenue",
                      "term_start", "term_end", "status"]


def _paid_license(conn: sa.Connection, grant_id: str) -> tuple[Any, Any]:
    grant = conn.execute(sa.select(state.grants)
                         .where(state.grants.c.id == grant_id)).first()
    if grant is None:
        raise NotFound(f"no grant {grant_id!r}", code="unknown_grant")
    source = grant.source or ""
    lic = None
    if source.startswith("license:"):
        lic = conn.execute(sa.select(licenses)
                           .where(licenses.c.id == source.removeprefix("license:"))).first()
    if lic is None or lic.fee_mode != "paid":
        raise Unprocessable(f"grant {grant_id!r} is not under a paid license; only paid "
                            "licenses are metered", code="not_paid_license")
    return grant, lic


def record_usage(engine: sa.Engine, grant_id: str, *, dataset: str, unit: str, quantity: int,
                 price: Decimal | int | str, at: dt.datetime | None = None) -> int:
    """Write one metering record for a grant of a paid license; ``price`` is yuan per unit
    and must not exceed the license's cap. Returns the record id."""
    amount = Decimal(str(price))
    if amount < 0 or not amount.is_finite():
        raise Unprocessable("price must be a non-negative amount", code="invalid_price")
    micros = to_micros(amount)
    if at is not None and at.tzinfo is None:
        raise Unprocessable("the metering time needs a timezone", code="invalid_time")
    if isinstance(quantity, bool) or quantity < 1:
        raise Unprocessable("quantity must be a positive integer", code="invalid_quantity")
    with engine.begin() as conn:
        grant, lic = _paid_license(conn, grant_id)
        if dataset != grant.dataset_id:
            raise Unprocessable(f"grant {grant_id!r} is for dataset {grant.dataset_id!r}",
                                code="dataset_mismatch")
        if unit != lic.unit:
            raise Unprocessable(f"license {lic.id!r} is metered per {lic.unit!r}",
                                code="unit_mismatch")
        when = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        if not utc(lic.term_start) <= when < utc(lic.term_end):
            raise Unprocessable(f"license {lic.id!r} is not in force at {rfc3339(when)}",
                                code="outside_term")
        if micros > lic.price_cap_micros:
            raise Unprocessable(f"price {amount} is above the cap "
                                f"{from_micros(lic.price_cap_micros)} of license {lic.id!r}",
                                code="price_above_cap")
        res = conn.execute(sa.insert(metering_records).values(
            grant_id=grant_id, license_id=lic.id, operator_id=grant.operator_id,
            dataset_id=dataset, unit=unit, quantity=quantity, price_micros=micros,
            recorded_at=when))
        return int(res.inserted_primary_key[0])  # type: ignore[index]


def meter_release(engine: sa.Engine, grant: dict[str, Any] | None, dataset_id: str,
                  rows: int) -> int | None:
    """Meter one release under ``grant`` (the grant document the decision was made on):
    nothing for free grants; for paid ones one ``call``, or ``rows`` rows, at the license's
    price. Returns the record id, or None when nothing was metered."""
    if not grant or grant.get("fee_mode") != "paid":
        return None
    with engine.connect() as conn:
        _, lic = _paid_license(conn, str(grant["id"]))
    if lic.unit == "call":
        quantity = 1
    elif lic.unit == "row":
        quantity = rows
    else:  # time-based units (month) are billed by the period, not per release
        return None
    if quantity < 1:
        return None
    return record_usage(engine, str(grant["id"]), dataset=dataset_id, unit=lic.unit,
                        quantity=quantity, price=Decimal(lic.price_micros) / MICROS)


def _yuan(micros: int) -> str:
    return str((Decimal(micros) / MICROS).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def disclosure(engine: sa.Engine, year: int) -> dict[str, Any]:
    """The annual disclosure for ``year``: every license whose term overlaps it, one line
    per grant with the year's metered quantity and revenue, plus totals."""
    start = dt.datetime(year, 1, 1, tzinfo=CST).astimezone(dt.UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=CST).astimezone(dt.UTC)
    m = metering_records
    with engine.connect() as conn:
        lics = conn.execute(sa.select(licenses)
                            .where(licenses.c.term_start < end, licenses.c.term_end > start)
                            .order_by(licenses.c.created_at, licenses.c.id)).all()
        sums = {r.grant_id: (int(r.quantity), int(r.revenue)) for r in conn.execute(
            sa.select(m.c.grant_id, sa.func.sum(m.c.quantity).label("quantity"),
                      sa.func.sum(m.c.quantity * m.c.price_micros).label("revenue"))
            .where(m.c.recorded_at >= start, m.c.recorded_at < end)
            .group_by(m.c.grant_id))}
        grant_ds = {r.id: r.dataset_id for r in conn.execute(
            sa.select(state.grants.c.id, state.grants.c.dataset_id)
            .where(state.grants.c.source.in_([f"license:{x.id}" for x in lics])))}
    lines: list[dict[str, Any]] = []
    total_revenue = 0
    quantity_by_unit: dict[str, int] = {}
    for lic in lics:
        titles = {d["dataset_id"]: d for d in lic.datasets}
        for grant_id in lic.grant_ids:
            ds_id = grant_ds.get(grant_id, "")
            quantity, revenue = sums.get(grant_id, (0, 0))
            total_revenue += revenue
            if lic.unit:
                quantity_by_unit[lic.unit] = quantity_by_unit.get(lic.unit, 0) + quantity
            lines.append({
                "year": year, "license_id": lic.id, "grant_id": grant_id,
                "operator_org": lic.org_name, "org_uscc": lic.org_uscc,
                "products": list(lic.products), "dataset_id": ds_id,
                "dataset_title": titles.get(ds_id, {}).get("title", ""),
                "registration_code": titles.get(ds_id, {}).get("registration_code", ""),
                "modes": list(lic.modes), "purposes": list(lic.purposes),
                "fee_mode": lic.fee_mode, "unit": lic.unit,
                "price_cap": from_micros(lic.price_cap_micros), "quantity": quantity,
                "revenue": _yuan(revenue), "term_start": rfc3339(lic.term_start),
                "term_end": rfc3339(lic.term_end), "status": lic.status})
    return {"year": year, "currency": "CNY", "timezone": "UTC+08:00", "lines": lines,
            "totals": {"licenses": len(lics), "grants": len(lines),
                       "quantity_by_unit": quantity_by_unit, "revenue": _yuan(total_revenue)}}


def render_disclosure(report: dict[str, Any], fmt: Literal["csv", "json"]) -> str:
    """The disclosure as JSON, or as CSV (one row per grant; lists joined with ``;``)."""
    if fmt == "json":
        return json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(DISCLOSURE_COLUMNS)
    for line in report["lines"]:
        out.writerow([";".join(v) if isinstance(v, list) else ("" if v is None else v)
                      for v in (line[c] for c in DISCLOSURE_COLUMNS)])
    return buf.getvalue()
