"""Leak tracing for auditors: upload a file, get the releases it most likely came from."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from gateway.api.deps import AuditorDep, ServicesDep
from gateway.api.errors import request_id
from gateway.trace import MAX_UPLOAD, trace_upload

router = APIRouter(prefix="/admin/v1/audit", tags=["audit"])


@router.post("/trace")
async def trace(request: Request, svc: ServicesDep, auditor: AuditorDep,
                file: Annotated[UploadFile, File(description="CSV, NDJSON, XLSX or JSON")],
                limit: Annotated[int, Query(ge=1, le=100)] = 10) -> dict[str, Any]:
    """Trace a leaked file: ranked grants and releases, their evidence, and the chance of
    a false match. 413 ``file_too_large`` over 50 MB; 415 ``unsupported_format``; 422
    ``unreadable_file``. The trace is an audit entry (kind ``trace``)."""
    data = await file.read(MAX_UPLOAD + 1)
    report = await run_in_threadpool(
        lambda: trace_upload(svc, data, (file.filename or "upload")[-200:],
                             request_id=request_id(request), auditor_id=auditor.id,
                             limit=limit))
    return report.to_json()
