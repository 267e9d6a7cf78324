"""Aggregate release (数据可用不可见): counts and measures grouped by allowed dimensions.

Steps 2-4 are shared (``gateway.decide``); then the gateway's own checks on the decision's
aggregate terms (dimensions, measures, filters, noise), the ε spend, the decision entry,
one GROUP BY with bound parameters, small-cell suppression, optional Laplace noise, the
signed receipt and the release entry — in that order, nothing released before the entry.

Small cells: a group with fewer than ``k_min`` contributing records is returned with
``"suppressed": true`` and every value (its count included) withheld. There is no totals
row, so a suppressed cell cannot be recovered by subtracting the released ones from a
total within a response (see docs/products.md for differencing across requests).

Noise (``gateway.privacy_budget.laplace``, the OS CSPRNG). ε is split evenly over the noisy statistics of a cell (the record
count, each sum, each avg's non-null count); groups are disjoint, so one request spends
ε once (parallel composition). Sums and averages are clamped to the decision's bounds.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from gateway import privacy_budget
from gateway.auth import Principal
from gateway.catalog import DatasetSpec
from gateway.decide import RequestContext, decide_request, record_refusal
from gateway.enforce import decision_row_filter
from gateway.errors import (
    BadRequest,
    Forbidden,
    GatewayError,
    PolicyUnavailable,
    StoreUnavailable,
    UnknownField,
)
from gateway.metering import meter_release
from gateway.plan import Filter, compile_filter, table_clause, validate_filters
from gateway.policy.decision import Decision
from gateway.privacy_budget import laplace, noisy_measure
from gateway.receipts import new_receipt_id, sign_receipt
from gateway.services import Services

# The gateway's own floor, whatever the policy says: these never label a group.
DIRECT_IDENTIFIER_PII = frozenset({"PERSON", "ID_CARD", "PHONE_NUMBER", "BANK_CARD",
                                   "EMAIL_ADDRESS", "PASSPORT", "LICENSE_PLATE", "IP_ADDRESS"})
NUMERIC = frozenset({"integer", "number"})


class Measure(BaseModel):
    """``{"op": "count"}`` (records) or ``{"op": "sum|avg|min|max", "field": ...}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    op: Literal["count", "sum", "avg", "min", "max"]
    field: str | None = Field(None, max_length=64)

    @property
    def key(self) -> str:
        return "count" if self.op == "count" else f"{self.op}_{self.field}"


class AggregateRequest(BaseModel):
    """Body of ``POST /v1/datasets/{id}/aggregate``."""

    model_config = ConfigDict(extra="forbid")

    dimensions: list[str] = Field(default_factory=list, max_length=8)
    measures: list[Measure] = Field(default_factory=list, max_length=16)
    filters: list[dict[str, Any]] = Field(default_factory=list, max_length=50)
    purpose: str = Field("", max_length=200)
    scenario: str = Field("", max_length=200)
    grant_id: str | None = Field(None, max_length=64)


@dataclass(frozen=True)
class AggregateTerms:
    """The aggregate part of an allowed decision, checked."""

    k_min: int
    epsilon: float | None
    epsilon_total: float | None
    dimensions: frozenset[str]
    measures: frozenset[str]
    bounds: dict[str, tuple[float, float]]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def aggregate_terms(decision: Decision) -> AggregateTerms:
    """Read ``k_min``, ``epsilon``, ``epsilon_total``, ``dimensions``, ``measures`` and
    ``bounds`` from the decision; anything malformed is a policy fault (503)."""
    raw = decision.raw

    def bad(what: str) -> PolicyUnavailable:
        return PolicyUnavailable(f"policy aggregate decision: {what}", code="policy_malformed")

    if "aggregate" not in decision.modes:
        raise PolicyUnavailable("policy allowed but did not list mode 'aggregate'; refused",
                                code="policy_invariant")
    k, eps, total = decision.k_min, raw.get("epsilon"), raw.get("epsilon_total")
    if k is None or k < 1:
        raise bad("k_min is missing or below 1")
    for name, value in (("epsilon", eps), ("epsilon_total", total)):
        if value is not None and not (_number(value) and value > 0):
            raise bad(f"{name} is not a positive number")
    lists = {name: raw.get(name) for name in ("dimensions", "measures")}
    for name, value in lists.items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad(f"{name} is not a list of field names")
    bounds: dict[str, tuple[float, float]] = {}
    for name, pair in (raw.get("bounds") or {}).items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(map(_number, pair))
                and pair[0] < pair[1]):
            raise bad(f"bounds for {name!r} are not [low, high]")
        bounds[name] = (float(pair[0]), float(pair[1]))
    return AggregateTerms(k, eps, total, frozenset(lists["dimensions"] or ()),
                          frozenset(lists["measures"] or ()), bounds)


def check_request(req: AggregateRequest, dataset: DatasetSpec
                  ) -> tuple[list[str], list[Measure], list[Filter]]:
    """Dimensions, measures (count first, each once) and filters checked against the
    catalog (400 on unknown fields or malformed measures)."""
    dims = list(dict.fromkeys(req.dimensions))
    named = dims + [m.field for m in req.measures if m.field is not None]
    unknown = sorted({n for n in named if dataset.field(n) is None})
    if unknown:
        raise UnknownField(f"unknown fields for dataset {dataset.id!r}: {unknown}")
    for m in req.measures:
        if (m.op == "count") != (m.field is None):
            raise BadRequest("count takes no field; sum, avg, min and max take one",
                             code="bad_measure")
    measures = list({m.key: m for m in [Measure(op="count"), *req.measures]}.values())
    return dims, measures, validate_filters(req.filters, dataset)


def enforce(terms: AggregateTerms, dataset: DatasetSpec, dims: Sequence[str],
            measures: Sequence[Measure], filters: Sequence[Filter]) -> None:
    """The gateway's checks beyond the policy: dimensions and measure fields within the
    decision's, filters only on non-personal dimension/measure fields, noise only where
    its sensitivity is bounded."""
    declared = dataset.field_map()
    for name in dims:
        spec = declared[name]
        if spec.pii in DIRECT_IDENTIFIER_PII or spec.level >= 4 or spec.free_text:
            raise PolicyUnavailable(f"policy allowed identifying field {name!r} as a "
                                    "dimension; refused", code="policy_invariant")
        if name not in terms.dimensions:
            raise Forbidden(f"field {name!r} is not an allowed dimension",
                            code="dimension_not_allowed")
    for m in measures:
        if m.field is None:
            continue
        if m.field not in terms.measures:
            raise Forbidden(f"{m.op} over field {m.field!r} is not allowed",
                            code="measure_not_allowed")
        if declared[m.field].type not in NUMERIC:
            raise PolicyUnavailable(f"policy allowed non-numeric measure {m.field!r}",
                                    code="policy_invariant")
        if terms.epsilon is not None and m.op in ("min", "max"):
            raise Forbidden(f"{m.op} cannot be released with noise", code="measure_not_private")
        if terms.epsilon is not None and m.field not in terms.bounds:
            raise Forbidden(f"noisy {m.op} over {m.field!r} needs clamping bounds",
                            code="measure_not_bounded")
    for f in filters:
        if f.field not in terms.dimensions | terms.measures or declared[f.field].is_personal:
            raise Forbidden(f"filter on field {f.field!r} is not permitted in an aggregate "
                            "(non-personal dimension or measure fields only)",
                            code="filter_not_permitted")


def build_query(dataset: DatasetSpec, dims: Sequence[str], measures: Sequence[Measure],
                where: Sequence[Filter], terms: AggregateTerms, limit: int) -> sa.Select[Any]:
    """One GROUP BY: dimension labels ``d0..``, record count ``n``, per measure its value
    ``m{i}`` (with noise: the clamped sum) and its contributing records ``c{i}`` (non-null
    values). Every value a bound parameter."""
    t = table_clause(dataset)
    groups = [t.c[d] for d in dims]
    cols: list[Any] = [c.label(f"d{i}") for i, c in enumerate(groups)]
    cols.append(sa.func.count().label("n"))
    for i, m in enumerate(measures):
        if m.field is None:
            continue
        col = t.c[m.field]
        if terms.epsilon is not None:
            low, high = terms.bounds[m.field]
            lo, hi = sa.literal(low, sa.Float()), sa.literal(high, sa.Float())
            cols.append(sa.func.sum(sa.case((col < lo, lo), (col > hi, hi), else_=col))
                        .label(f"m{i}"))
        else:
            cols.append(getattr(sa.func, m.op)(col).label(f"m{i}"))  # sum/avg/min/max
        cols.append(sa.func.count(col).label(f"c{i}"))
    q = sa.select(*cols).select_from(t)
    for f in where:
        q = q.where(compile_filter(t, f))
    return q.group_by(*groups).order_by(*groups).limit(limit)


def _value(v: Any) -> Any:
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    return v


def make_cells(rows: Sequence[Any], dims: Sequence[str], measures: Sequence[Measure],
               terms: AggregateTerms) -> list[dict[str, Any]]:
    """Cells from the grouped rows: a group under ``k_min`` records is suppressed whole; a
    measure with fewer than ``k_min`` non-null values in a released group is withheld
    (null); everything else exact, or noisy when the decision names ε."""
    noisy = [m for m in measures if m.field is not None]
    share = (terms.epsilon or 0) / (1 + sum(2 if m.op == "avg" else 1 for m in noisy))
    cells = []
    for row in rows:
        n = int(row.n)
        cell: dict[str, Any] = {"dims": {d: _value(row[i]) for i, d in enumerate(dims)}}
        if n < terms.k_min:
            cell.update({m.key: None for m in measures}, suppressed=True)
            cells.append(cell)
            continue
        for i, m in enumerate(measures):
            if m.field is None:
                cell[m.key] = (n if terms.epsilon is None
                               else max(0, round(n + laplace(1 / share))))
            elif int(row._mapping[f"c{i}"]) < terms.k_min:
                cell[m.key] = None  # fewer than k records carry a value: withheld too
            elif terms.epsilon is None:
                cell[m.key] = _value(row._mapping[f"m{i}"])
            else:
                cell[m.key] = noisy_measure(m.op, row._mapping[f"m{i}"],
                                            row._mapping[f"c{i}"], terms.bounds[m.field], share)
        cell["suppressed"] = False
        cells.append(cell)
    return cells


def canonical_cells(cells: Sequence[dict[str, Any]]) -> bytes:
    """The payload the receipt hashes: cells as compact JSON, sorted keys, UTF-8."""
    return json.dumps(list(cells), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def release(svc: Services, principal: Principal, dataset_id: str, req: AggregateRequest,
            ctx: RequestContext) -> dict[str, Any]:
    """The whole aggregate release; returns the response body."""
    dataset = svc.catalog.get(dataset_id)
    dims, measures, filters = check_request(req, dataset)
    request = {"dimensions": dims, "measures": [m.model_dump() for m in measures],
               "filters": [{"field": f.field, "op": f.op} for f in filters],
               "purpose": req.purpose, "scenario": req.scenario}
    d = decide_request(svc, principal, dataset, action="aggregate", request=request,
                       filters=filters, purpose=req.purpose, grant_id=req.grant_id, ctx=ctx)
    audit = d.audit
    audit["requested_fields"] = sorted({*dims, *(m.field for m in measures if m.field)})
    budget: privacy_budget.Budget | None = None
    try:
        terms = aggregate_terms(d.decision)
        enforce(terms, dataset, dims, measures, filters)
        row_filter = decision_row_filter(d.decision, dataset)
        if terms.epsilon is not None:
            key = d.grant_id or f"operator:{principal.id}:{dataset.id}"
            budget = privacy_budget.spend(svc.state_engine, key, terms.epsilon,
                                          terms.epsilon_total)
    except GatewayError as exc:
        record_refusal(svc, ctx, audit, exc)
        raise
    max_cells = d.decision.max_rows or svc.settings.page_limit_max
    receipt_id = new_receipt_id()
    audit.update({"dimensions": dims, "measures": [m.key for m in measures],
                  "k_min": terms.k_min, "epsilon": terms.epsilon, "receipt_id": receipt_id,
                  "row_filter": [{"field": f.field, "op": f.op} for f in row_filter],
                  "privacy_budget": budget.to_json() if budget else None})
    svc.recorder.record("decision", ctx.request_id, audit)
    query = build_query(dataset, dims, measures, [*filters, *row_filter], terms, max_cells + 1)
    try:
        with svc.stores.get(dataset.upstream).engine.connect() as conn:
            rows = conn.execute(query).all()
    except sa.exc.SQLAlchemyError as exc:  # never echo the statement or its parameters
        svc.recorder.record("release", ctx.request_id, {**audit, "status": "failed"})
        raise StoreUnavailable(f"upstream query failed ({type(exc).__name__})") from None
    if len(rows) > max_cells:
        svc.recorder.record("release", ctx.request_id, {**audit, "status": "too_many_cells"})
        raise BadRequest(f"more than {max_cells} groups; use fewer or coarser dimensions",
                         code="too_many_cells")
    cells = make_cells(rows, dims, measures, terms)
    meter_release(svc.state_engine, d.grant, dataset.id, 1)
    suppressed = sum(1 for c in cells if c["suppressed"])
    digest = hashlib.sha256(canonical_cells(cells)).hexdigest()
    receipt = sign_receipt(svc.keyring_or_fail().sign, {
        "receipt_id": receipt_id, "request_id": ctx.request_id, "grant_id": d.grant_id,
        "dataset": dataset.id, "mode": "aggregate", "operator_id": principal.id,
        "org_uscc": principal.org_uscc, "dimensions": dims,
        "measures": [m.key for m in measures], "k_min": terms.k_min, "epsilon": terms.epsilon,
        "cell_count": len(cells), "suppressed_count": suppressed, "payload_sha256": digest,
        "format": "json", "status": "complete", "policy_version": audit["policy_version"],
        "policy_engine": audit["policy_engine"],
        "time": dt.datetime.now(dt.UTC).isoformat()})
    svc.recorder.record("release", ctx.request_id, {
        **audit, "status": "complete", "cells_released": len(cells) - suppressed,
        "cells_suppressed": suppressed, "payload_sha256": digest,
        "epsilon_spent": terms.epsilon, "receipt_key_id": receipt["key_id"],
        "receipt_signature": receipt["signature"]})
    return {"cells": cells, "dimensions": dims, "measures": [m.key for m in measures],
            "k_min": terms.k_min, "epsilon": terms.epsilon,
            "privacy_budget": budget.to_json() if budget else None,
            "request_id": ctx.request_id, "receipt": receipt}
