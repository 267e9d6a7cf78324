"""Audit API for the auditor role only (separation of duties: admins cannot read it)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from gateway.api.deps import AuditorDep, ServicesDep
from gateway.auditlog import (
    consistency_proof,
    inclusion_proof,
    latest_checkpoint,
    search,
    verify_log,
)
from gateway.services import Services

router = APIRouter(prefix="/admin/v1/audit", tags=["audit"])

_CSV_COLUMNS = ["seq", "time", "kind", "request_id", "operator_id", "dataset", "grant_id",
                "allowed", "reasons", "released_fields", "row_count", "payload_sha256",
                "receipt_id", "purpose", "client_ip", "policy_version"]


def _filters(since: dt.datetime | None, until: dt.datetime | None, operator_id: str | None,
             dataset: str | None, decision: Literal["allow", "deny"] | None,
             grant_id: str | None, kind: str | None) -> dict[str, Any]:
    return {"since": since, "until": until, "operator_id": operator_id, "dataset": dataset,
            "decision": decision, "grant_id": grant_id, "kind": kind}


def _csv_row(e: dict[str, Any]) -> list[Any]:
    entry = e["entry"]
    decision = entry.get("decision") or {}
    return [e["seq"], e["time"], e["kind"], e["request_id"],
            (entry.get("principal") or {}).get("operator_id"), entry.get("dataset"),
            entry.get("grant_id"), decision.get("allow"), "; ".join(decision.get("reasons", [])),
            orjson.dumps(entry.get("released_fields")).decode(), entry.get("row_count"),
            entry.get("payload_sha256"), entry.get("receipt_id"), entry.get("purpose"),
            entry.get("client_ip"), entry.get("policy_version")]


def _export(svc: Services, filters: dict[str, Any], fmt: str) -> Iterator[bytes]:
    cursor = None
    if fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(_CSV_COLUMNS)
        yield buf.getvalue().encode()
    while True:
        page = search(svc.state_engine, **filters, cursor=cursor, limit=1000)
        docs = [e.to_json() for e in page.entries]
        if fmt == "csv":
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows(_csv_row(d) for d in docs)
            yield buf.getvalue().encode()
        elif docs:
            yield b"\n".join(orjson.dumps(d) for d in docs) + b"\n"
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


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
        return StreamingResponse(_export(svc, filters, format), media_type=media)
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
