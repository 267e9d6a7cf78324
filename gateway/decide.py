"""Steps 2-4, shared by every release mode (rows, aggregate, verify): load the grant,
build the policy input, decide, and record a denial before refusing.

``decide_request`` returns a ``Decided`` (an allow) or raises the refusal, which has
already been written to the audit log.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Sequence

from gateway.auth import Principal
from gateway.catalog import DatasetSpec
from gateway.errors import AuditUnavailable, GatewayError, PolicyDenied
from gateway.grants import find_grant
from gateway.plan import Filter
from gateway.policy.decision import Decision
from gateway.quotas import Admission
from gateway.services import Services


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    client_ip: str
    now: dt.datetime


@dataclass
class Decided:
    """An allowed decision with what it was made on; ``audit`` is the entry being built."""

    dataset: DatasetSpec
    grant: dict[str, Any] | None
    decision: Decision
    audit: dict[str, Any]
    policy_input: dict[str, Any]
    admission: Admission | None = None

    @property
    def grant_id(self) -> str | None:
        return self.grant["id"] if self.grant else None

    @property
    def rows_allowed(self) -> int | None:
        """The quota's cap on rows for this request (None: no cap)."""
        return self.admission.rows_allowed if self.admission else None

    def settle(self, rows_sent: int) -> None:
        """Return the unused part of the quota reservation (idempotent)."""
        if self.admission is not None:
            self.admission.settle(rows_sent)


def hash_filters(svc: Services, filters: Sequence[Filter], dataset: DatasetSpec) -> list[Any]:
    """Filters for the audit entry: personal fields' values as keyed hashes (with the MAC
    key id), never in clear."""
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


def policy_input(principal: Principal, dataset: DatasetSpec, action: str,
                 request: dict[str, Any], grant: dict[str, Any] | None,
                 usage: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    """3. The policy input document (DESIGN.md contract). Pure."""
    return {
        "subject": {"operator_id": principal.id, "org_uscc": principal.org_uscc,
                    "roles": list(principal.roles), "key_id": principal.key_id},
        "action": action,
        "dataset": {"id": dataset.id, "open_class": dataset.open_class, "owner": dataset.owner,
                    "fields": {f.name: {"pii": f.pii, "level": f.level,
                                        "quasi_identifier": f.quasi_identifier,
                                        "operator": f.operator, "free_text": f.free_text,
                                        "type": f.type}
                               for f in dataset.fields}},
        "request": request,
        "grant": grant,
        "usage": usage,
        "env": {"now": ctx.now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "client_ip": ctx.client_ip},
    }


def decide_request(svc: Services, principal: Principal, dataset: DatasetSpec, *, action: str,
                   request: dict[str, Any], filters: Sequence[Filter], purpose: str,
                   grant_id: str | None, ctx: RequestContext,
                   requested_rows: int | None = 0) -> Decided:
    """Load the grant (fresh: no cache), count the request against the grant's quota and
    reserve ``requested_rows`` (None: as many as the quota allows), build the input,
    decide. A quota refusal, a deny, an engine failure or an unanswerable policy is
    recorded and raised; the unused reservation is returned."""
    grant = find_grant(svc.state_engine, principal.id, dataset.id, grant_id)   # 2. grant
    audit: dict[str, Any] = {
        "time": ctx.now.isoformat(), "request_id": ctx.request_id, "action": action,
        "principal": {"operator_id": principal.id, "org_uscc": principal.org_uscc,
                      "key_id": principal.key_id, "roles": list(principal.roles)},
        "dataset": dataset.id, "requested_fields": list(request.get("fields", [])),
        "filters": hash_filters(svc, filters, dataset), "purpose": purpose,
        "grant_id": grant["id"] if grant else None, "client_ip": ctx.client_ip,
        "policy_engine": svc.policy.name, "policy_version": svc.policy.version(),
    }
    admission: Admission | None = None
    usage: dict[str, Any] = {"rows_today": 0, "requests_this_minute": 0, "rows_total": 0}
    if grant is not None:
        try:
            # Counted before deciding: denied calls count too, which stops enumeration.
            admission = svc.quotas.admit(grant["id"], grant.get("quota") or {}, now=ctx.now,
                                         requested_rows=requested_rows)
        except GatewayError as exc:
            record_refusal(svc, ctx, audit, exc)
            raise
        usage = dict(admission.usage)
    doc = policy_input(principal, dataset, action, request, grant, usage, ctx)  # 3. input
    # Kept so that a candidate policy can decide this request again (replay); filter
    # values on personal fields are keyed hashes here, never in clear.
    audit["policy_input"] = replayable_input(doc, audit["filters"])
    try:
        decision = svc.policy.decide(doc)                                       # 4. decide
        # The version that actually decided (an activation may land between requests).
        audit["policy_version"] = decision.policy_version or audit["policy_version"]
        audit["policy_version_id"] = decision.policy_version_id
        if not decision.allow:
            audit["decision"] = {"allow": False, "reasons": list(decision.reasons)}
            audit["decision_doc"] = dict(decision.raw)
            svc.recorder.record("decision", ctx.request_id, audit)
            raise PolicyDenied("the policy denied this request",
                               reasons=list(decision.reasons))
    except PolicyDenied:
        if admission is not None:
            admission.settle(0)
        raise
    except GatewayError as exc:  # engine error/timeout/undefined: deny, and say so
        if admission is not None:
            admission.settle(0)
        record_refusal(svc, ctx, audit, exc)
        raise
    audit["decision"] = {"allow": True, "reasons": list(decision.reasons)}
    audit["decision_doc"] = dict(decision.raw)
    return Decided(dataset=dataset, grant=grant, decision=decision, audit=audit,
                   policy_input=doc, admission=admission)


def replayable_input(doc: dict[str, Any], hashed_filters: list[Any]) -> dict[str, Any]:
    """The policy input as the audit log keeps it: request filter values replaced by the
    audit entry's (hashed where personal) filters."""
    request = dict(doc["request"])
    if "filters" in request:
        request["filters"] = hashed_filters
    return {**doc, "request": request}


def record_refusal(svc: Services, ctx: RequestContext, audit: dict[str, Any],
                   exc: GatewayError) -> None:
    """Record a refusal that happens after (or instead of) the policy's answer."""
    entry = {**audit, "decision": {"allow": False, "reasons": [f"{exc.code}: {exc.message}"]}}
    try:
        svc.recorder.record("decision", ctx.request_id, entry)
    except AuditUnavailable:
        pass  # the request is refused either way; the original error is the better answer
