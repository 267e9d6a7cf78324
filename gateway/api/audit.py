"""Audit API for the auditor role only (separation of duties: admins cannot read it)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from gateway.api.deps import AuditorDep, ServicesDep
from gateway.auditlog import (
    consistency_proof,
    detect_anomalies,
    examined_window,
    inclusion_proof,
    latest_checkpoint,
    search,
    verify_log,
)
from gateway.auditlog.evidence import read_entry
from gateway.auditlog.export import export_entries
from gateway.clock import now as utcnow
from gateway.clock import rfc3339

router = APIRouter(prefix="/admin/v1/audit", tags=["audit"])


def _filters(since: dt.datetime | None, until: dt.datetime | None, operator_id: str | None,
             dataset: str | None, decision: Literal["allow", "deny"] | None,
             grant_id: str | None, kind: str | None) -> dict[str, Any]:
    return {"since": since, "until": until, "operator_id": operator_id, "dataset": dataset,
            "decision": decision, "grant_id": grant_id, "kind": kind}


@router.get("", response_model=None)
async def list_entries(
    svc: ServicesDep, _: AuditorDep,
    since: dt.datetime | None = None, until: dt.datetime | None = None,
    operator_id: str | None = None, dataset: str | None = None,
    decision: Literal["allow", "deny"] | None = None, grant_id: str | None = None,
    kind: str | None = None, cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    format: Literal["json", "ndjson", "csv"] = "json",
) -> Any:
    """Search the log (cursor pages), or export every match as NDJSON/CSV."""
    filters = _filters(since, until, operator_id, dataset, decision, grant_id, kind)
    if format != "json":
        media = "application/x-ndjson" if format == "ndjson" else "text/csv; charset=utf-8"
        return StreamingResponse(export_entries(svc.state_engine, filters, format),
                                 media_type=media)
    page = await run_in_threadpool(search, svc.state_engine, **filters, cursor=cursor,
                                   limit=limit)
    return Response(orjson.dumps({"entries": [e.to_json() for e in page.entries],
                                  "next_cursor": page.next_cursor}),
                    media_type="application/json")


@router.get("/verify")
async def verify(svc: ServicesDep, _: AuditorDep) -> dict[str, Any]:
    """Recompute the tree and check every signed checkpoint."""
    ring = svc.keyring_or_fail()
    res = await run_in_threadpool(verify_log, svc.state_engine, ring.verify,
                                  origin=svc.settings.audit_origin)
    return {"ok": res.ok, "summary": res.summary(), "size": res.size,
            "first_bad_seq": res.first_bad_seq, "problem": res.problem,
            "signed_size": res.signed_size}


@router.get("/checkpoint")
def checkpoint(svc: ServicesDep, _: AuditorDep) -> dict[str, Any]:
    cp = latest_checkpoint(svc.state_engine)
    return {"checkpoint": cp.to_json() if cp is not None else None}


@router.get("/proof/inclusion")
def proof_inclusion(svc: ServicesDep, _: AuditorDep, seq: int,
                    tree_size: int | None = None) -> dict[str, Any]:
    return inclusion_proof(svc.state_engine, seq, tree_size).to_json()


@router.get("/proof/consistency")
def proof_consistency(svc: ServicesDep, _: AuditorDep, old: int,
                      new: int | None = None) -> dict[str, Any]:
    return consistency_proof(svc.state_engine, old, new).to_json()


@router.get("/entries/{seq}")
def entry(svc: ServicesDep, _: AuditorDep, seq: int) -> dict[str, Any]:
    """One entry by sequence number (what anomaly flags link to)."""
    return read_entry(svc.state_engine, seq).to_json()


@router.get("/anomalies")
def anomalies(
    svc: ServicesDep, _: AuditorDep,
    since: dt.datetime | None = None, until: dt.datetime | None = None,
    days: int | None = None, history_days: int = 30, grant_id: str | None = None,
    kind: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    """Anomaly flags per grant for ``[since or until - days, until)`` (default: the last
    day), each against the grant's own history; every flag links to its entries."""
    computed_at = utcnow()
    now = until if until is not None else computed_at
    window = examined_window(now, since=since, window_days=days, history_days=history_days)
    flags = detect_anomalies(svc.state_engine, now=now, since=since, window_days=days,
                             history_days=history_days, grant_id=grant_id, kinds=kind)
    return {"anomalies": [a.to_json() for a in flags], "window": window.to_json(),
            "computed_at": rfc3339(computed_at)}
