"""Auditor pages: audit search with cursor pages and export, one entry with its receipt
and inclusion-proof download, verification against the latest signed checkpoint, daily
charts, anomaly flags and leak tracing — over the same ``gateway.auditlog`` functions as
``/admin/v1/audit``. Entries hold personal filter values only as keyed hashes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from gateway.auditlog import detect_anomalies, latest_checkpoint, search, verify_log
from gateway.auditlog.evidence import evidence
from gateway.auditlog.export import MEDIA_TYPES, export_entries
from gateway.auditlog.stats import daily_stats
from gateway.clock import CST
from gateway.clock import now as utcnow
from gateway.console.charts import bar_chart
from gateway.console.web import (
    PREFIX,
    AuditorAction,
    AuditorSession,
    record,
    render,
    services,
)
from gateway.errors import BadRequest, GatewayError

router = APIRouter(prefix=PREFIX + "/audit", include_in_schema=False)
KINDS = ("decision", "release", "console", "policy", "trace")


def _when(value: str | None, field: str) -> dt.datetime | None:
    """A form date or datetime; naive values are China Standard Time."""
    if not value or not value.strip():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(f"{field}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM",
                         code="bad_time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=CST)
    return parsed


def _filters(since: str | None, until: str | None, operator_id: str | None,
             grant_id: str | None, dataset: str | None, decision: str | None,
             kind: str | None) -> dict[str, Any]:
    if decision not in (None, "", "allow", "deny"):
        raise BadRequest("decision must be allow or deny", code="bad_filter")
    return {"since": _when(since, "since"), "until": _when(until, "until"),
            "operator_id": operator_id or None, "grant_id": grant_id or None,
            "dataset": dataset or None, "decision": decision or None, "kind": kind or None}


@router.get("/entries")
async def entries(request: Request, session: AuditorSession, since: str | None = None,
                  until: str | None = None, operator_id: str | None = None,
                  grant_id: str | None = None, dataset: str | None = None,
                  decision: str | None = None, kind: str | None = None,
                  request_id: str | None = None, cursor: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Response:
    svc = services(request)
    filters = _filters(since, until, operator_id, grant_id, dataset, decision, kind)
    page = await run_in_threadpool(search, svc.state_engine, **filters,
                                   request_id=request_id or None, cursor=cursor, limit=limit)
    form = {"since": since or "", "until": until or "", "operator_id": operator_id or "",
            "grant_id": grant_id or "", "dataset": dataset or "", "decision": decision or "",
            "kind": kind or "", "request_id": request_id or ""}
    query = "&".join(f"{k}={v}" for k, v in form.items() if v)
    return render(request, "audit/entries.html", page=page, form=form, kinds=KINDS,
                  query=query, limit=limit)


@router.get("/export")
async def export(request: Request, session: AuditorSession,
                 format: Literal["ndjson", "csv"] = "ndjson", since: str | None = None,
                 until: str | None = None, operator_id: str | None = None,
                 grant_id: str | None = None, dataset: str | None = None,
                 decision: str | None = None, kind: str | None = None) -> Response:
    svc = services(request)
    filters = _filters(since, until, operator_id, grant_id, dataset, decision, kind)
    # Exports are themselves audited: who took which slice of the log.
    await run_in_threadpool(record, svc, request, "audit_export",
                            principal_id=session.principal.id, format=format,
                            filters={k: str(v) for k, v in filters.items() if v is not None})
    name = f"audit-{utcnow().strftime('%Y%m%dT%H%M%SZ')}.{format}"
    return StreamingResponse(export_entries(svc.state_engine, filters, format),
                             media_type=MEDIA_TYPES[format],
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/entries/{seq}")
async def entry(request: Request, seq: int, session: AuditorSession) -> Response:
    svc = services(request)
    ring = svc.keyring_or_fail()
    ev = await run_in_threadpool(evidence, svc.state_engine, ring.verify, seq,
                                 origin=svc.settings.audit_origin)
    related = await run_in_threadpool(search, svc.state_engine,
                                      request_id=ev.entry.request_id, limit=20)
    return render(request, "audit/entry.html", ev=ev, e=ev.entry.entry,
                  related=[r for r in related.entries if r.seq != seq])


@router.get("/entries/{seq}/proof.json")
async def proof(request: Request, seq: int, session: AuditorSession) -> Response:
    svc = services(request)
    ev = await run_in_threadpool(evidence, svc.state_engine, svc.keyring_or_fail().verify,
                                 seq, origin=svc.settings.audit_origin)
    return Response(orjson.dumps(ev.proof_document(), option=orjson.OPT_INDENT_2),
                    media_type="application/json",
                    headers={"Content-Disposition":
                             f'attachment; filename="audit-{seq}-inclusion-proof.json"'})


@router.get("/verify")
async def verify(request: Request, session: AuditorSession) -> Response:
    svc = services(request)
    ring = svc.keyring_or_fail()
    result = await run_in_threadpool(verify_log, svc.state_engine, ring.verify,
                                     origin=svc.settings.audit_origin)
    cp = await run_in_threadpool(latest_checkpoint, svc.state_engine)
    return render(request, "audit/verify.html", result=result, checkpoint=cp)


@router.get("/charts")
async def charts(request: Request, session: AuditorSession,
                 days: Annotated[int, Query(ge=1, le=90)] = 14) -> Response:
    svc = services(request)
    stats = await run_in_threadpool(daily_stats, svc.state_engine, until=utcnow(), days=days)
    labels = [d.strftime("%m-%d") for d in stats.days]

    def figures(series: dict[dt.date, Any], what: str) -> list[int]:
        return [getattr(series[d], what) if d in series else 0 for d in stats.days]

    def group(by: dict[str, dict[dt.date, Any]]) -> list[dict[str, Any]]:
        return [{"name": name, **{what: bar_chart(labels, figures(series, what), what)
                                  for what in ("requests", "denials", "rows")},
                 "totals": {what: sum(figures(series, what))
                            for what in ("requests", "denials", "rows")}}
                for name, series in sorted(by.items())]

    total = {what: bar_chart(labels, figures(stats.total, what), what)
             for what in ("requests", "denials", "rows")}
    return render(request, "audit/charts.html", days=days, total=total,
                  grants=group(stats.by_grant), datasets=group(stats.by_dataset))


@router.get("/anomalies")
async def anomalies(request: Request, session: AuditorSession,
                    days: Annotated[int, Query(ge=1, le=31)] = 1,
                    history_days: Annotated[int, Query(ge=7, le=365)] = 30,
                    grant_id: str | None = None) -> Response:
    svc = services(request)
    flags = await run_in_threadpool(
        lambda: detect_anomalies(svc.state_engine, now=utcnow(), window_days=days,
                                 history_days=history_days, grant_id=grant_id or None))
    return render(request, "audit/anomalies.html", flags=flags, days=days,
                  history_days=history_days, grant_id=grant_id or "")


@router.get("/trace")
async def trace_page(request: Request, session: AuditorSession) -> Response:
    return render(request, "audit/trace.html", report=None)


@router.post("/trace")
async def trace_upload(request: Request, session: AuditorAction,
                       file: Annotated[UploadFile, File()]) -> Response:
    from gateway.trace import MAX_UPLOAD
    from gateway.trace import trace_upload as run_trace

    svc = services(request)
    data = await file.read(MAX_UPLOAD + 1)
    name = (file.filename or "upload")[-200:]
    try:
        report = await run_in_threadpool(
            lambda: run_trace(svc, data, name, request_id=str(request.state.request_id),
                              auditor_id=session.principal.id))
    except GatewayError as exc:
        return render(request, "audit/trace.html", report=None, error=exc,
                      status_code=exc.status_code)
    return render(request, "audit/trace.html", report=report, filename=name)
