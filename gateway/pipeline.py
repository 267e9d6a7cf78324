"""The release pipeline, top to bottom (DESIGN.md, "The request pipeline").

``prepare`` runs steps 2-5 and 9 (the decision entry) and returns a ``Release`` whose
batches run steps 6-7 lazily; ``gateway.respond`` turns it into a page or a stream and
records the release entry before the response is committed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from anonymizers.columns import ColumnContext
from gateway.auth import Principal
from gateway.catalog import DatasetSpec
from gateway.desensitize import Desensitizer
from gateway.enforce import ReleasedField, check_filters_allowed, decision_row_filter, \
    released_fields
from gateway.errors import AuditUnavailable, Forbidden, GatewayError, PolicyDenied, \
    UnknownField
from gateway.grants import find_grant
from gateway.plan import Filter, QueryPlan, decode_cursor, query_fingerprint, validate_filters
from gateway.policy.decision import Decision
from gateway.receipts import new_receipt_id
from gateway.services import Services
from gateway.stores import Batch, prefetch


class QueryRequest(BaseModel):
    """Body of ``POST /v1/datasets/{id}/query``."""

    model_config = ConfigDict(extra="forbid")

    fields: list[str] = Field(default_factory=list, max_length=500)
    filters: list[dict[str, Any]] = Field(default_factory=list, max_length=50)
    purpose: str = Field("", max_length=200)
    scenario: str = Field("", max_length=200)
    limit: int | None = Field(None, ge=1)
    cursor: str | None = Field(None, max_length=2000)
    grant_id: str | None = Field(None, max_length=64)


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    client_ip: str
    now: dt.datetime


@dataclass
class Release:
    """An allowed release, not yet fetched. ``batches()`` streams desensitized rows."""

    svc: Services
    ctx: RequestContext
    dataset: DatasetSpec
    fields: list[ReleasedField]
    decision: Decision
    plan: QueryPlan
    fingerprint: str
    audit: dict[str, Any]
    receipt_id: str
    desensitizer: Desensitizer
    stats: dict[str, Any] = field(default_factory=dict)

    def batches(self) -> Iterator[tuple[Batch, dict[str, Sequence[Any]]]]:
        store = self.svc.stores.get(self.dataset.upstream)
        fetched = store.stream(self.plan, self.svc.settings.batch_size)       # 6. fetch
        if self.plan.limit is None or self.plan.limit > self.svc.settings.batch_size:
            fetched = prefetch(fetched)  # overlap the database round trips with step 7
        for batch in fetched:
            yield batch, self.desensitizer.apply(batch)                       # 7. desensitize

    def cursor_after(self, last_key: Any) -> str:
        from gateway.plan import encode_cursor

        return encode_cursor(self.svc.keyring_or_fail().cursor_key(), last_key,
                             self.fingerprint)

    def record(self, kind: str, extra: dict[str, Any]) -> int:
        return self.svc.recorder.record(kind, self.ctx.request_id, {**self.audit, **extra})


def _hash_filters(svc: Services, filters: list[Filter], dataset: DatasetSpec) -> list[Any]:
    """Filters for the audit entry: personal fields' values as keyed hashes, never in clear."""
    keyring = svc.keyring_or_fail()
    declared = dataset.field_map()
    out = []
    for f in filters:
        value: Any = f.value
        if declared[f.field].is_personal and f.op != "is_null":
            tagged = keyring.mac_tagged("audit-filter",
                                        json.dumps(value, default=str).encode())
            value = f"hmac-sha256:{tagged.key_id}:{tagged.digest.hex()[:32]}"
        elif not isinstance(value, (str, int, float, bool, list)):
            value = str(value)
        out.append({"field": f.field, "op": f.op, "value": value})
    return out


def _policy_input(principal: Principal, dataset: DatasetSpec, req: QueryRequest,
                  fields: list[str], grant: dict[str, Any] | None,
                  ctx: RequestContext, action: str) -> dict[str, Any]:
    """3. The policy input document (DESIGN.md contract). Pure."""
    return {
        "subject": {"operator_id": principal.id, "org_uscc": principal.org_uscc,
                    "roles": list(principal.roles), "key_id": principal.key_id},
        "action": action,
        "dataset": {"id": dataset.id, "open_class": dataset.open_class, "owner": dataset.owner,
                    "fields": {f.name: {"pii": f.pii, "level": f.level,
                                        "quasi_identifier": f.quasi_identifier,
                                        "operator": f.operator, "free_text": f.free_text}
                               for f in dataset.fields}},
        "request": {"fields": fields, "filters": req.filters, "purpose": req.purpose,
                    "scenario": req.scenario, "limit": req.limit},
        "grant": grant,
        "usage": {"rows_today": 0, "requests_this_minute": 0},
        "env": {"now": ctx.now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "client_ip": ctx.client_ip},
    }


def prepare(svc: Services, principal: Principal, dataset_id: str, req: QueryRequest,
            ctx: RequestContext, *, mode: Literal["page", "stream"]) -> Release:
    """Authenticate happened in the router (step 1). Steps 2-5 here, then the decision entry."""
    dataset = svc.catalog.get(dataset_id)                                     # 2. dataset
    fields = list(dict.fromkeys(req.fields)) or [f.name for f in dataset.fields]
    unknown = [f for f in fields if dataset.field(f) is None]
    if unknown:
        raise UnknownField(f"unknown fields for dataset {dataset.id!r}: {unknown}")
    filters = validate_filters(req.filters, dataset)
    # The policy decides on every field the request touches: filtered-on fields too.
    decide_fields = fields + [f.field for f in filters if f.field not in fields]
    grant = find_grant(svc.state_engine, principal.id, dataset.id, req.grant_id)  # 2. grant
    policy_input = _policy_input(principal, dataset, req, decide_fields, grant, ctx,
                                 "rows")                                        # 3. input
    audit: dict[str, Any] = {
        "time": ctx.now.isoformat(), "request_id": ctx.request_id, "action": "rows",
        "principal": {"operator_id": principal.id, "org_uscc": principal.org_uscc,
                      "key_id": principal.key_id, "roles": list(principal.roles)},
        "dataset": dataset.id, "requested_fields": fields,
        "filters": _hash_filters(svc, filters, dataset), "purpose": req.purpose,
        "grant_id": grant["id"] if grant else None, "client_ip": ctx.client_ip,
        "policy_engine": svc.policy.name, "policy_version": svc.policy.version(),
    }
    decision = _decide(svc, policy_input, audit, ctx)                          # 4. decide
    try:
        visible = released_fields(decision, dataset, decide_fields, "rows")
        check_filters_allowed(filters, visible, dataset)
        released = [f for f in visible if f.name in fields]
        if not released:
            raise Forbidden("the policy released none of the requested fields",
                            code="no_fields", reasons=list(decision.reasons))
        row_filter = decision_row_filter(decision, dataset)
    except GatewayError as exc:
        _record_refusal(svc, ctx, audit, exc)
        raise
    fingerprint = query_fingerprint(dataset.id, fields, req.filters, req.purpose,
                                    grant["id"] if grant else None)
    after = None
    if req.cursor:
        after = decode_cursor(svc.keyring_or_fail().cursor_key_for, req.cursor,
                              fingerprint, dataset.field_map()[dataset.key])
    cap = decision.max_rows if decision.max_rows is not None else svc.settings.page_limit_max
    if mode == "page":
        limit: int | None = min(req.limit or svc.settings.page_limit_default,
                                svc.settings.page_limit_max, cap)
    else:
        limit = min(req.limit, cap) if req.limit else cap
    plan = QueryPlan(dataset=dataset, columns=tuple(f.name for f in released),   # 5. plan
                     filters=tuple(filters), row_filter=tuple(row_filter),
                     limit=(limit + 1) if mode == "page" else limit, after_key=after)
    pseudonym_key = svc.keyring_or_fail().pseudonym_key(
        grant["id"] if grant else f"operator:{principal.id}:{dataset.id}")
    col_ctx = ColumnContext(pseudonym_key=pseudonym_key.secret,
                            pseudonym_key_id=pseudonym_key.key_id, today=ctx.now.date())
    audit.update({
        "decision": {"allow": True, "reasons": list(decision.reasons)},
        "released_fields": {f.name: f.operator for f in released},
        "row_filter": [{"field": f.field, "op": f.op} for f in row_filter],
        "max_rows": decision.max_rows,
    })
    receipt_id = new_receipt_id()
    audit["receipt_id"] = receipt_id
    svc.recorder.record("decision", ctx.request_id, audit)                    # 9. record
    release = Release(svc=svc, ctx=ctx, dataset=dataset, fields=released, decision=decision,
                      plan=plan, fingerprint=fingerprint, audit=audit, receipt_id=receipt_id,
                      desensitizer=Desensitizer(released, col_ctx, frozenset(
                          f.name for f in dataset.fields if f.type == "string")))
    release.stats["page_limit"] = limit
    return release


def _decide(svc: Services, policy_input: dict[str, Any], audit: dict[str, Any],
            ctx: RequestContext) -> Decision:
    try:
        decision = svc.policy.decide(policy_input)
    except GatewayError as exc:  # engine error/timeout/undefined: deny, and say so
        _record_refusal(svc, ctx, audit, exc)
        raise
    if not decision.allow:
        audit["decision"] = {"allow": False, "reasons": list(decision.reasons)}
        svc.recorder.record("decision", ctx.request_id, audit)
        raise PolicyDenied("the policy denied this request", reasons=list(decision.reasons))
    return decision


def _record_refusal(svc: Services, ctx: RequestContext, audit: dict[str, Any],
                    exc: GatewayError) -> None:
    entry = {**audit, "decision": {"allow": False, "reasons": [f"{exc.code}: {exc.message}"]}}
    try:
        svc.recorder.record("decision", ctx.request_id, entry)
    except AuditUnavailable:
        pass  # the request is refused either way; the original error is the better answer
