"""The FastAPI application: built by ``create_app``; heavy objects in the lifespan."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import console
from gateway.api import admin, applications, audit, errors, health, operator, policies, products
from gateway.api import trace as trace_api
from gateway.policy.decision import PolicyEngine
from gateway.services import Services
from gateway.settings import Settings, get_settings


class RequestIdMiddleware:
    """Give every request an id (``request.state.request_id``, ``X-Request-Id``) and mark
    every response ``no-store``. Pure ASGI, so streamed bodies and client disconnects
    pass straight through (``BaseHTTPMiddleware`` would buffer and hide them)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req-" + secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Request-Id"] = request_id
                headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


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

    app.add_middleware(RequestIdMiddleware)

    app.include_router(health.router)
    app.include_router(operator.router)
    app.include_router(admin.router)
    app.include_router(audit.router)
    app.include_router(trace_api.router)
    app.include_router(products.router)
    app.include_router(policies.router)
    for router in applications.routers:
        app.include_router(router)
    console.install(app)
    return app
