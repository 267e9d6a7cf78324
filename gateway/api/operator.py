"""Operator API: catalog, query (JSON pages or NDJSON/CSV streams), own grants."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Generator
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from gateway import respond
from gateway.api.deps import OperatorDep, ServicesDep
from gateway.decide import RequestContext
from gateway.grants import list_grants
from gateway.pipeline import QueryRequest, prepare

router = APIRouter(prefix="/v1", tags=["operator"])

_STREAM_TYPES = {"application/x-ndjson": "ndjson", "text/csv": "csv"}


def _ctx(request: Request) -> RequestContext:
    client = request.client.host if request.client else ""
    return RequestContext(request_id=request.state.request_id, client_ip=client,
                          now=dt.datetime.now(dt.timezone.utc))


@router.get("/catalog")
def catalog(svc: ServicesDep, principal: OperatorDep) -> dict[str, Any]:
    """Datasets with fields and classifications (no data), and whether you hold a grant."""
    grants = {g["dataset_id"]: g for g in list_grants(svc.state_engine, principal.id)}
    out = []
    for ds in svc.catalog.all():
        g = grants.get(ds.id)
        out.append({
            "id": ds.id, "title": ds.title, "description": ds.description,
            "open_class": ds.open_class, "owner": ds.owner,
            "registration_code": ds.registration_code,
            "fields": [f.model_dump() for f in ds.fields],
            "your_grant": {"id": g["id"], "status": g["status"], "valid_to": g["valid_to"]}
            if g else None,
        })
    return {"datasets": out}


@router.get("/grants")
def my_grants(svc: ServicesDep, principal: OperatorDep) -> dict[str, Any]:
    return {"grants": list_grants(svc.state_engine, principal.id)}


@router.post("/datasets/{dataset_id}/query", response_model=None)
async def query(dataset_id: str, body: QueryRequest, request: Request, svc: ServicesDep,
                principal: OperatorDep,
                accept: Annotated[str | None, Header()] = None) -> Any:
    """Desensitized rows under the policy's decision. ``Accept: application/x-ndjson`` or
    ``text/csv`` streams the whole allowed result; otherwise one JSON page with a cursor."""
    fmt = next((v for k, v in _STREAM_TYPES.items() if accept and k in accept), None)
    ctx = _ctx(request)
    if fmt is None:
        release = await run_in_threadpool(prepare, svc, principal, dataset_id, body, ctx,
                                          mode="page")
        page = await run_in_threadpool(respond.page, release)
        return Response(orjson.dumps(page), media_type="application/json",
                        headers={"Gateway-Receipt-Id": release.receipt_id})
    release = await run_in_threadpool(prepare, svc, principal, dataset_id, body, ctx,
                                      mode="stream")
    media = "application/x-ndjson" if fmt == "ndjson" else "text/csv; charset=utf-8"
    return StreamingResponse(_in_threads(respond.stream(release, fmt)), media_type=media,
                             headers={"Gateway-Receipt-Id": release.receipt_id})


async def _in_threads(chunks: Generator[bytes, None, None]) -> AsyncIterator[bytes]:
    """Drive a blocking body generator from worker threads and close it however the
    response ends: when the client goes away the generator's ``finally`` still runs, so
    the export is recorded as interrupted with the rows actually sent."""
    try:
        while True:
            chunk = await run_in_threadpool(next, chunks, None)
            if chunk is None:
                return
            yield chunk
    finally:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(chunks.close)


@router.get("/keys")
def public_keys(svc: ServicesDep) -> dict[str, Any]:
    """Public verification keys by key id (receipts, checkpoints, bundles). No secrets."""
    return {"keys": svc.keyring_or_fail().public_keys()}
