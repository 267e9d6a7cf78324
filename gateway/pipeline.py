"""The release pipeline, top to bottom (DESIGN.md, "The request pipeline").

``prepare`` runs steps 2-5 and 9 (the decision entry) and returns a ``Release`` whose
batches run steps 6-7 lazily; ``gateway.respond`` turns it into a page or a stream and
records the release entry before the response is committed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from anonymizers.columns import ColumnContext
from anonymizers.text_ops.context import OperatorContext
from anonymizers.textscrub import TextAnonymizer
from gateway.auth import Principal
from gateway.catalog import DatasetSpec
from gateway.decide import Decided, RequestContext, decide_request, record_refusal
from gateway.desensitize import Desensitizer
from gateway.enforce import (
    ReleasedField,
    check_filters_allowed,
    decision_row_filter,
    released_fields,
)
from gateway.errors import Forbidden, GatewayError, UnknownField
from gateway.metering import meter_release
from gateway.plan import (
    Filter,
    QueryPlan,
    decode_cursor,
    encode_cursor,
    query_fingerprint,
    validate_filters,
)
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


@dataclass
class Release:
    """An allowed release, not yet fetched. ``batches()`` streams desensitized rows."""

    svc: Services
    ctx: RequestContext
    dataset: DatasetSpec
    fields: list[ReleasedField]
    decided: Decided
    plan: QueryPlan
    fingerprint: str
    audit: dict[str, Any]
    receipt_id: str
    desensitizer: Desensitizer
    page_limit: int  # rows in a JSON page (stream: the cap)

    def batches(self) -> Iterator[tuple[Batch, dict[str, Sequence[Any]]]]:
        store = self.svc.stores.get(self.dataset.upstream)
        fetched = store.stream(self.plan, self.svc.settings.batch_size)       # 6. fetch
        if self.plan.limit is None or self.plan.limit > self.svc.settings.batch_size:
            fetched = prefetch(fetched)  # overlap the database round trips with step 7
        for batch in fetched:
            yield batch, self.desensitizer.apply(batch)                       # 7. desensitize

    def cursor_after(self, last_key: Any) -> str:
        return encode_cursor(self.svc.keyring_or_fail().cursor_key(), last_key,
                             self.fingerprint)

    def record(self, kind: str, extra: dict[str, Any]) -> int:
        entry = {**self.audit, **extra}
        if self.desensitizer.net_hits:
            entry["safety_net_hits"] = self.desensitizer.net_hits
        return self.svc.recorder.record(kind, self.ctx.request_id, entry)

    def finish(self, rows_sent: int) -> None:
        """Charge the quota with what was sent (and return the rest of the reservation),
        and meter the release when the grant is paid."""
        self.decided.settle(rows_sent)
        if rows_sent:
            meter_release(self.svc.state_engine, self.decided.grant, self.dataset.id,
                          rows_sent)


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
    request = {"fields": decide_fields, "filters": req.filters, "purpose": req.purpose,
               "scenario": req.scenario, "limit": req.limit}
    wanted = min(req.limit or svc.settings.page_limit_default, svc.settings.page_limit_max) \
        if mode == "page" else req.limit
    d = decide_request(svc, principal, dataset, action="rows", request=request,   # 2-4.
                       filters=filters, purpose=req.purpose, grant_id=req.grant_id, ctx=ctx,
                       requested_rows=wanted)
    try:
        return _plan_release(svc, principal, d, req, ctx, mode, fields, decide_fields, filters)
    except BaseException:
        d.settle(0)  # nothing was sent: give the reserved rows back
        raise


def _plan_release(svc: Services, principal: Principal, d: Decided, req: QueryRequest,
                  ctx: RequestContext, mode: Literal["page", "stream"], fields: list[str],
                  decide_fields: list[str], filters: list[Filter]) -> Release:
    """Steps 4b-5 and the decision entry: enforce the decision, plan the query."""
    dataset = d.dataset
    d.audit["requested_fields"] = fields
    decision, audit = d.decision, d.audit
    try:
        visible = released_fields(decision, dataset, decide_fields, "rows")
        check_filters_allowed(filters, visible, dataset)
        released = [f for f in visible if f.name in fields]
        if not released:
            raise Forbidden("the policy released none of the requested fields",
                            code="no_fields", reasons=list(decision.reasons))
        row_filter = decision_row_filter(decision, dataset)
    except GatewayError as exc:
        record_refusal(svc, ctx, audit, exc)
        raise
    fingerprint = query_fingerprint(dataset.id, fields, req.filters, req.purpose, d.grant_id)
    after = None
    if req.cursor:
        after = decode_cursor(svc.keyring_or_fail().cursor_key_for, req.cursor,
                              fingerprint, dataset.field_map()[dataset.key])
    cap = decision.max_rows if decision.max_rows is not None else svc.settings.page_limit_max
    if d.rows_allowed is not None:
        cap = min(cap, d.rows_allowed)  # what is left of the grant's row quotas
    if mode == "page":
        limit = min(req.limit or svc.settings.page_limit_default,
                    svc.settings.page_limit_max, cap)
        fetch_limit = limit + 1  # one more row tells whether there is a next page
    else:
        limit = fetch_limit = min(req.limit, cap) if req.limit else cap
    plan = QueryPlan(dataset=dataset, columns=tuple(f.name for f in released),   # 5. plan
                     filters=tuple(filters), row_filter=tuple(row_filter),
                     limit=fetch_limit, after_key=after)
    pseudonym_key = svc.keyring_or_fail().pseudonym_key(
        d.grant_id or f"operator:{principal.id}:{dataset.id}")
    col_ctx = ColumnContext(pseudonym_key=pseudonym_key.secret,
                            pseudonym_key_id=pseudonym_key.key_id, today=ctx.now.date())
    if svc.detector is not None and any(f.operator == "scrub" for f in released):
        # Free text through the analyzer, with the same grant key as the columns. Without
        # a detector, scrub redacts whole cells (fail closed).
        col_ctx = replace(col_ctx, text=TextAnonymizer(svc.detector, ctx=OperatorContext(
            col_ctx.today, col_ctx.pseudonym_key, col_ctx.pseudonym_key_id)))
    receipt_id = new_receipt_id()
    audit.update({
        "released_fields": {f.name: f.operator for f in released},
        "row_filter": [{"field": f.field, "op": f.op} for f in row_filter],
        "max_rows": decision.max_rows, "receipt_id": receipt_id,
    })
    svc.recorder.record("decision", ctx.request_id, audit)                    # 9. record
    release = Release(svc=svc, ctx=ctx, dataset=dataset, fields=released, decided=d,
                      plan=plan, fingerprint=fingerprint, audit=audit, receipt_id=receipt_id,
                      desensitizer=Desensitizer(released, col_ctx, frozenset(
                          f.name for f in dataset.fields if f.type == "string"),
                          safety_net=svc.safety_net), page_limit=limit)
    return release
