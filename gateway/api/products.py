"""Operator API for data products: aggregates and verifications (数据可用不可见)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway import aggregate, verification
from gateway.api.deps import OperatorDep, ServicesDep
from gateway.decide import RequestContext

router = APIRouter(prefix="/v1", tags=["products"])


def _ctx(request: Request) -> RequestContext:
    client = request.client.host if request.client else ""
    return RequestContext(request_id=request.state.request_id, client_ip=client,
                          now=dt.datetime.now(dt.UTC))


def _json(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json",
                    headers={"Gateway-Receipt-Id": str(body["receipt"]["receipt_id"])})


@router.post("/datasets/{dataset_id}/aggregate", response_model=None)
async def aggregate_release(dataset_id: str, body: aggregate.AggregateRequest,
                            request: Request, svc: ServicesDep,
                            principal: OperatorDep) -> Response:
    """Counts (and sums, averages, minima, maxima) grouped by allowed dimensions; groups
    under the decision's ``k_min`` records are suppressed; Laplace noise when the decision
    names ε, spent from the grant's privacy budget. Signed receipt in the body."""
    result = await run_in_threadpool(aggregate.release, svc, principal, dataset_id, body,
                                     _ctx(request))
    return _json(result)


@router.post("/datasets/{dataset_id}/verify", response_model=None)
async def verify_claim(dataset_id: str, body: verification.VerifyRequest, request: Request,
                       svc: ServicesDep, principal: OperatorDep) -> Response:
    """Whether a record matches the claim (``match_on``), per field when the decision
    allows; never the stored values. Rate-limited per grant (429 with Retry-After)."""
    result = await run_in_threadpool(verification.verify, svc, principal, dataset_id, body,
                                     _ctx(request))
    return _json(result)
