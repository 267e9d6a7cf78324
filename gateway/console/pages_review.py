"""Reviewer pages: the application queue, one application with each requested field's
sensitivity and open class, and approve (with narrowing) / reject / return — through the
same ``gateway.applications`` functions as ``/admin/v1/applications``."""

from __future__ import annotations

import datetime as dt
from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from gateway import applications
from gateway.applications import ApprovalIn, AppState
from gateway.clock import CST
from gateway.console.web import (
    PREFIX,
    ReviewerAction,
    ReviewerSession,
    perform,
    redirect,
    render,
    services,
)
from gateway.errors import BadRequest, GatewayError

router = APIRouter(prefix=PREFIX + "/review", include_in_schema=False)
QUOTA_KEYS = ("requests_per_minute", "rows_per_day", "rows_total", "max_rows_per_request")
_STATES = get_args(AppState)


@router.get("/applications")
async def queue(request: Request, session: ReviewerSession, state: str = "submitted",
                done: str | None = None) -> Response:
    if state not in (*_STATES, "all"):
        raise BadRequest(f"state must be one of {[*_STATES, 'all']}", code="bad_state")
    svc = services(request)
    apps = await run_in_threadpool(applications.list_applications, svc.state_engine,
                                   state=None if state == "all" else state)  # type: ignore[arg-type]
    return render(request, "review/queue.html", applications=apps, state=state,
                  states=(*_STATES, "all"), done=done)


async def _detail(request: Request, app_id: str) -> dict[str, Any]:
    svc = services(request)
    doc = await run_in_threadpool(applications.get_application, svc.state_engine, app_id)
    return await run_in_threadpool(applications.review_view, doc, svc.catalog)


@router.get("/applications/{app_id}")
async def detail(request: Request, app_id: str, session: ReviewerSession,
                 done: str | None = None) -> Response:
    return render(request, "review/detail.html", app=await _detail(request, app_id),
                  quota_keys=QUOTA_KEYS, done=done)


def _date(value: str, end: bool) -> dt.datetime | None:
    """A form date (YYYY-MM-DD, China Standard Time) as an aware datetime; the end of a
    period is the end of its last day."""
    if not value.strip():
        return None
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest("dates are YYYY-MM-DD", code="bad_date") from None
    start = dt.datetime.combine(day, dt.time(0, 0), tzinfo=CST)
    return start + dt.timedelta(days=1) - dt.timedelta(microseconds=1) if end else start


def _quota(form: Any, prefix: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for key in QUOTA_KEYS:
        raw = str(form.get(f"{prefix}{key}") or "").strip()
        if raw:
            if not raw.isdigit():
                raise BadRequest(f"quota {key} must be a whole number", code="bad_quota")
            out[key] = int(raw)
    return out


def approval_from_form(form: Any, app: dict[str, Any]) -> ApprovalIn:
    """The approval a reviewer ticked: kept fields per dataset, period, quotas, note.
    A dataset with no field ticked is refused (approval only narrows; to refuse a
    dataset, reject or return the application)."""
    datasets: dict[str, Any] = {}
    for item in app["datasets"]:
        ds_id = item["dataset_id"]
        kept = [str(v) for v in form.getlist(f"fields:{ds_id}")]
        if not kept:
            raise BadRequest(f"no field of {ds_id} is ticked; to refuse it, reject or return "
                             "the application", code="no_fields_kept")
        datasets[ds_id] = {"fields": kept, "quota": _quota(form, f"quota:{ds_id}:")}
    body: dict[str, Any] = {"datasets": datasets, "quota": _quota(form, "quota:"),
                            "note": str(form.get("note") or "")[:2000]}
    valid_from = _date(str(form.get("valid_from") or ""), end=False)
    valid_to = _date(str(form.get("valid_to") or ""), end=True)
    if valid_from is not None:
        body["valid_from"] = max(valid_from, dt.datetime.fromisoformat(app["period_from"]))
    if valid_to is not None:
        body["valid_to"] = min(valid_to, dt.datetime.fromisoformat(app["period_to"]))
    try:
        return ApprovalIn.model_validate(body)
    except ValidationError as exc:
        raise BadRequest("; ".join(str(e["msg"]) for e in exc.errors()[:3]),
                         code="invalid_approval") from None


async def _refused(request: Request, app_id: str, exc: GatewayError) -> Response:
    return render(request, "review/detail.html", status_code=exc.status_code,
                  app=await _detail(request, app_id), quota_keys=QUOTA_KEYS, error=exc)


@router.post("/applications/{app_id}/approve")
async def approve(request: Request, app_id: str, session: ReviewerAction) -> Response:
    svc = services(request)
    form = await request.form()
    try:
        app = await _detail(request, app_id)
        body = approval_from_form(form, app)
        grant_ids = await perform(
            request, session, "application_approve", app_id,
            lambda: applications.approve(svc.state_engine, svc.catalog, session.principal,
                                         app_id, body))
    except GatewayError as exc:
        return await _refused(request, app_id, exc)
    return redirect(f"{PREFIX}/review/applications/{app_id}", done="application_approved",
                    grants=",".join(grant_ids))


async def _without_grant(request: Request, app_id: str, session: Any,
                         action: str) -> Response:
    svc = services(request)
    form = await request.form()
    reason = str(form.get("reason") or "")[:2000]
    try:
        await perform(request, session, f"application_{action}", app_id,
                      lambda: applications.decide_without_grant(
                          svc.state_engine, session.principal, app_id, action, reason))  # type: ignore[arg-type]
    except GatewayError as exc:
        return await _refused(request, app_id, exc)
    return redirect(f"{PREFIX}/review/applications/{app_id}", done=f"application_{action}ed")


@router.post("/applications/{app_id}/reject")
async def reject(request: Request, app_id: str, session: ReviewerAction) -> Response:
    return await _without_grant(request, app_id, session, "reject")


@router.post("/applications/{app_id}/return")
async def return_(request: Request, app_id: str, session: ReviewerAction) -> Response:
    return await _without_grant(request, app_id, session, "return")
