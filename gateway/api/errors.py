"""One error shape for every failure: ``{"error": {"code", "message", "request_id"}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import BadRequest, GatewayError, TooManyRequests

log = logging.getLogger("gateway")


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def error_response(request: Request, status: int, code: str, message: str,
                   reasons: list[str] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "request_id": request_id(request)}
    if reasons:
        body["reasons"] = reasons
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    # Name the location and the problem, never the submitted value (it may be personal data).
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _console(request: Request) -> bool:
    return request.url.path.startswith("/console")


def install(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> Response:
        if exc.status_code >= 500:
            log.warning("refused %s: %s", exc.code, exc.message)
        if _console(request):
            from gateway.console.web import error_page

            return error_page(request, exc)
        headers = None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        return error_response(request, exc.status_code, exc.code, exc.message, exc.reasons,
                              headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if _console(request):
            from gateway.console.web import error_page

            return error_page(request, BadRequest(_validation_message(exc),
                                                  code="invalid_request"))
        return error_response(request, 422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        if _console(request):
            from gateway.console.web import error_page

            err = GatewayError(str(exc.detail), code=code)
            err.status_code = exc.status_code
            return error_page(request, err)
        return error_response(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error (request %s)", request_id(request))
        return error_response(request, 500, "internal_error",
                              "internal error; nothing was released")
