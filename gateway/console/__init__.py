"""The web console at ``/console`` for admins, reviewers and auditors.

Server-rendered Jinja2 pages with htmx (vendored under ``static/vendor/htmx``), message
catalogs in ``locales/`` (Simplified Chinese by default, English), sessions and CSRF in
:mod:`gateway.console.accounts` and :mod:`gateway.console.web`. See docs/console.md.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from gateway.console import pages_session
from gateway.console.web import (
    PREFIX,
    SecurityHeadersMiddleware,
    SignInRequired,
    sign_in_redirect,
)

_STATIC = Path(__file__).resolve().parent / "static"


def _routers() -> list[object]:
    from gateway.console import pages_admin, pages_audit, pages_policy, pages_review

    return [pages_session.router, pages_admin.router, pages_policy.router,
            pages_review.router, pages_audit.router]


def install(app: FastAPI) -> None:
    """Mount the console: its pages, its static files and its security headers."""
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount(PREFIX + "/static", StaticFiles(directory=str(_STATIC)), name="console-static")
    for router in _routers():
        app.include_router(router)  # type: ignore[arg-type]

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return sign_in_redirect(request, exc)
