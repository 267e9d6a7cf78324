"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gateway.api.deps import ServicesDep
from gateway.errors import GatewayError
from gateway.services import Services

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _readiness(svc: Services) -> dict[str, Any]:
    checks: dict[str, Any] = {name: {"ok": False, "error": why}
                              for name, why in svc.problems.items()}
    if "policy" not in checks:
        checks["policy"] = {"ok": True, "engine": svc.policy.name,
                            "version": svc.policy.version()}
    try:
        import sqlalchemy as sa

        with svc.state_engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        checks["state_db"] = {"ok": True}
    except Exception as exc:  # readiness reports, never raises
        checks["state_db"] = {"ok": False, "error": type(exc).__name__}
    for up in svc.stores.ids():
        try:
            svc.stores.get(up).ping()
            checks[f"upstream:{up}"] = {"ok": True}
        except GatewayError as exc:
            checks[f"upstream:{up}"] = {"ok": False, "error": exc.message}
    return checks


@router.get("/readyz")
async def readyz(svc: ServicesDep) -> JSONResponse:
    checks = await run_in_threadpool(_readiness, svc)
    ready = all(c["ok"] for c in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
