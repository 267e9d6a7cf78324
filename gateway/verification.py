"""Verification release (核验): match / no-match for a claim, never the stored values.

The claim's values never reach the policy (it decides on the claimed field names), the
audit log (keyed MACs only) or an error message. The upstream is asked one existence
question with bound parameters; the SQL compares, so stored values are not even read
into the gateway. Every answer has the same shape and takes at least
``MIN_ANSWER_S``, whether or not the claim's identifier exists.

Enumeration is throttled per grant: ``verify_per_minute`` calls (from the decision) in a
fixed one-minute window, counted in the state database so that every worker shares the
count; one more is refused with 429 and ``Retry-After``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
import unicodedata
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from gateway import state
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
    TooManyRequests,
    Unavailable,
    UnknownField,
)
from gateway.metering import meter_release
from gateway.plan import Filter, compile_filter, table_clause, validate_filters
from gateway.policy.decision import Decision
from gateway.receipts import new_receipt_id, sign_receipt
from gateway.services import Services

MIN_ANSWER_S = 0.05
WINDOW_S = 60
# Claim fields that identify one record: per-field answers are relative to them.
ANCHOR_PII = frozenset({"ID_CARD", "USCC", "PASSPORT", "LICENSE_PLATE", "BANK_CARD"})
_COMPACT_PII = ANCHOR_PII | {"PHONE_NUMBER", "PERSON"}
_SPACES = re.compile(r"[\s\-]+")

verify_rate = sa.Table(
    "verify_rate",
    state.metadata,
    sa.Column("rate_key", sa.String(160), primary_key=True),
    sa.Column("window_start", sa.BigInteger, primary_key=True),
    sa.Column("calls", sa.Integer, nullable=False),
)


class VerifyRequest(BaseModel):
    """Body of ``POST /v1/datasets/{id}/verify``."""

    model_config = ConfigDict(extra="forbid")

    match_on: dict[str, str | int | float] = Field(min_length=1, max_length=10)
    purpose: str = Field("", max_length=200)
    scenario: str = Field("", max_length=200)
    grant_id: str | None = Field(None, max_length=64)


def normalize(value: str | float, pii: str | None) -> str | float:
    """Claim normalization: NFKC (full-width to half-width), outer spaces stripped;
    identifiers, phones and names also lose inner spaces (and dashes, except names), and
    identifiers are upper-cased (ID check character ``x`` → ``X``)."""
    if not isinstance(value, str):
        return value
    text = unicodedata.normalize("NFKC", value).strip()
    if pii == "PERSON":
        return re.sub(r"\s+", "", text)
    if pii in _COMPACT_PII:
        text = _SPACES.sub("", text)
    return text.upper() if pii in ANCHOR_PII else text


def check_claim(req: VerifyRequest, dataset: DatasetSpec) -> list[Filter]:
    """The claim as ``eq`` filters, typed and normalized (400 names fields, never values)."""
    declared = dataset.field_map()
    unknown = sorted(n for n in req.match_on if n not in declared)
    if unknown:
        raise UnknownField(f"unknown fields for dataset {dataset.id!r}: {unknown}")
    raw = [{"field": n, "op": "eq", "value": normalize(v, declared[n].pii)}
           for n, v in req.match_on.items()]
    try:
        return validate_filters(raw, dataset, source="match_on")
    except BadRequest as exc:
        raise BadRequest(exc.message, code="bad_claim") from None


def hash_claim(svc: Services, claim: Sequence[Filter]) -> dict[str, str]:
    """Each claimed value as a keyed MAC with its key id, for the audit entry."""
    ring = svc.keyring_or_fail()
    out = {}
    for f in claim:
        tagged = ring.mac_tagged("audit-filter", json.dumps(f.value, default=str).encode())
        out[f.field] = f"hmac-sha256:{tagged.key_id}:{tagged.digest.hex()[:32]}"
    return out


def _terms(decision: Decision) -> tuple[frozenset[str], bool, int]:
    raw = decision.raw
    fields, per_field, rate = (raw.get("verify_fields"), raw.get("per_field"),
                               raw.get("verify_per_minute"))
    if "verify" not in decision.modes:
        raise PolicyUnavailable("policy allowed but did not list mode 'verify'; refused",
                                code="policy_invariant")
    if (not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)
            or not isinstance(per_field, bool) or not isinstance(rate, int)
            or isinstance(rate, bool) or rate < 0):
        raise PolicyUnavailable("policy verify decision lacks verify_fields, per_field or "
                                "verify_per_minute", code="policy_malformed")
    return frozenset(fields), per_field, rate


def take_call(engine: sa.Engine, key: str, limit: int, now: float) -> None:
    """Count one call under ``key`` in the current minute, or raise 429 when ``limit``
    calls were already made. Atomic across workers: a conditional increment."""
    window = int(now) // WINDOW_S * WINDOW_S
    retry = max(1, window + WINDOW_S - int(now))
    t = verify_rate
    try:
        for _ in range(3):
            with engine.begin() as conn:
                res = conn.execute(sa.update(t).where(
                    t.c.rate_key == key, t.c.window_start == window, t.c.calls < limit)
                    .values(calls=t.c.calls + 1))
                if res.rowcount == 1:
                    return
                if conn.execute(sa.select(t.c.calls).where(
                        t.c.rate_key == key, t.c.window_start == window)).first() is not None:
                    break
                if limit < 1:
                    break
                conn.execute(sa.delete(t).where(t.c.rate_key == key,
                                                t.c.window_start < window))
            try:
                with engine.begin() as conn:
                    conn.execute(sa.insert(t).values(rate_key=key, window_start=window,
                                                     calls=1))
                return
            except sa.exc.IntegrityError:
                continue  # another worker opened the window: count in it
    except sa.exc.SQLAlchemyError as exc:
        raise Unavailable(f"verification rate counter unavailable ({type(exc).__name__})",
                          code="rate_unavailable") from None
    raise TooManyRequests(f"at most {limit} verifications per minute under this grant",
                          retry_after=retry, code="verify_rate_limited")


def _where(table: sa.TableClause, dataset: DatasetSpec, f: Filter) -> sa.ColumnElement[bool]:
    col = table.c[f.field]
    spec = dataset.field_map()[f.field]
    cond: sa.ColumnElement[bool] = col == f.value
    if spec.pii == "ID_CARD" and isinstance(f.value, str) and f.value.endswith("X"):
        cond = col.in_([f.value, f.value[:-1] + "x"])  # stored either way; index-friendly
    return cond


def lookup(svc: Services, dataset: DatasetSpec, claim: Sequence[Filter],
           row_filter: Sequence[Filter]) -> tuple[bool, dict[str, bool]]:
    """``(match, per-field answers)``. With identifier fields in the claim (anchors), the
    records they name are found and each other field compared in SQL; without, the
    question is whether one record matches every field."""
    t = table_clause(dataset)
    declared = dataset.field_map()
    anchors = [f for f in claim if declared[f.field].pii in ANCHOR_PII] or list(claim)
    others = [f for f in claim if f not in anchors]
    flags = [sa.case((_where(t, dataset, f), 1), else_=0).label(f"f{i}")
             for i, f in enumerate(others)]
    q = sa.select(sa.literal(1).label("hit"), *flags).select_from(t)
    for f in anchors:
        q = q.where(_where(t, dataset, f))
    for f in row_filter:
        q = q.where(compile_filter(t, f))
    try:
        with svc.stores.get(dataset.upstream).engine.connect() as conn:
            rows = conn.execute(q.limit(64)).all()
    except sa.exc.SQLAlchemyError as exc:  # never echo the statement: it holds the claim
        raise StoreUnavailable(f"upstream query failed ({type(exc).__name__})") from None
    match = any(all(r[i + 1] == 1 for i in range(len(others))) for r in rows)
    fields = {f.field: bool(rows) for f in anchors}
    fields.update({f.field: any(r[i + 1] == 1 for r in rows) for i, f in enumerate(others)})
    return match, fields


def verify(svc: Services, principal: Principal, dataset_id: str, req: VerifyRequest,
           ctx: RequestContext) -> dict[str, Any]:
    """The whole verification; returns the response body."""
    started = time.monotonic()
    dataset = svc.catalog.get(dataset_id)
    claim = check_claim(req, dataset)
    names = sorted(f.field for f in claim)
    d = decide_request(svc, principal, dataset, action="verify",
                       request={"claim_fields": names, "purpose": req.purpose,
                                "scenario": req.scenario},
                       filters=[], purpose=req.purpose, grant_id=req.grant_id, ctx=ctx)
    audit = d.audit
    audit.update({"requested_fields": names, "claim": hash_claim(svc, claim)})
    try:
        allowed, per_field, rate = _terms(d.decision)
        outside = [n for n in names if n not in allowed]
        if outside:
            raise Forbidden(f"fields {outside} may not be verified under this decision",
                            code="verify_field_not_allowed")
        row_filter = decision_row_filter(d.decision, dataset)
        key = d.grant_id or f"operator:{principal.id}:{dataset.id}"
        take_call(svc.state_engine, key, rate, time.time())
    except GatewayError as exc:
        record_refusal(svc, ctx, audit, exc)
        raise
    receipt_id = new_receipt_id()
    audit.update({"receipt_id": receipt_id, "per_field": per_field,
                  "row_filter": [{"field": f.field, "op": f.op} for f in row_filter]})
    svc.recorder.record("decision", ctx.request_id, audit)
    match, fields = lookup(svc, dataset, claim, row_filter)
    meter_release(svc.state_engine, d.grant, dataset.id, 1)
    answer: dict[str, Any] = {"match": match}
    if per_field:
        answer["fields"] = {n: fields[n] for n in names}
    payload = json.dumps(answer, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(payload).hexdigest()
    receipt = sign_receipt(svc.keyring_or_fail().sign, {
        "receipt_id": receipt_id, "request_id": ctx.request_id, "grant_id": d.grant_id,
        "dataset": dataset.id, "mode": "verify", "operator_id": principal.id,
        "org_uscc": principal.org_uscc, "claim_fields": names, "per_field": per_field,
        "payload_sha256": digest, "format": "json", "status": "complete",
        "policy_version": audit["policy_version"], "policy_engine": audit["policy_engine"],
        "time": dt.datetime.now(dt.UTC).isoformat()})
    svc.recorder.record("release", ctx.request_id, {
        **audit, "status": "complete", "matches": int(match), "no_matches": int(not match),
        "fields_matched": sum(fields.values()) if per_field else None,
        "payload_sha256": digest, "receipt_key_id": receipt["key_id"],
        "receipt_signature": receipt["signature"]})
    _pad(started)
    return {**answer, "request_id": ctx.request_id, "receipt": receipt}


def _pad(started: float) -> None:
    """Hold every answer to at least ``MIN_ANSWER_S`` so that lookups of existing and
    absent identifiers take the same time from outside."""
    left = MIN_ANSWER_S - (time.monotonic() - started)
    if left > 0:
        time.sleep(left)

