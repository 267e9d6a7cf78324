"""The FastAPI application: built by ``create_app``; heavy objects in the lifespan."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from gateway.api import admin, audit, errors, health, operator
from gateway.policy.decision import PolicyEngine
from gateway.services import Services
from gateway.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *,
               policy: PolicyEngine | None = None) -> FastAPI:
    """Build the app; ``policy`` overrides the configured engine (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = Services.build(settings or get_settings(), policy=policy)
        app.state.services = svc
        try:
            yield
        finally:
            svc.close()

    app = FastAPI(title="Public-data privacy gateway", version="0.1.0", lifespan=lifespan)
    errors.install(app)

    @app.middleware("http")
    async def _request_id(request: Request,
                          call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request.state.request_id = "req-" + secrets.token_hex(8)
        response = await call_next(request)
        response.headers["X-Request-Id"] = request.state.request_id
        response.headers["Cache-Control"] = "no-store"
        return response

    app.include_router(health.router)
    app.include_router(operator.router)
    app.include_router(admin.router)
    app.include_router(audit.router)
    return app
