"""What every console page shares: templates, the session and role checks, CSRF, the
security headers, audit entries for sign-ins and actions, and HTML error pages.

The console is one more client of the same services as the API: its handlers call the
functions in ``gateway.*`` with the signed-in principal, never their own copies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.console import accounts
from gateway.console.accounts import ConsoleSession
from gateway.console.i18n import LANG_NAMES, LANGS, Translator, pick_lang
from gateway.errors import Forbidden, GatewayError
from gateway.services import Services

COOKIE = "pgw_console"
LANG_COOKIE = "pgw_lang"
PREFIX = "/console"
_HERE = Path(__file__).resolve().parent

# No inline script, style or handler anywhere: script-src and style-src are 'self' only.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make Origin "null" on form posts
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeadersMiddleware:
    """Set the console's security headers on every response under ``/console``, and
    ``nosniff`` everywhere. Pure ASGI: streamed bodies pass straight through."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        console = str(scope.get("path", "")).startswith(PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if console:
                    for name, value in SECURITY_HEADERS.items():
                        headers[name] = value
                else:
                    headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_with_headers)


templates = Jinja2Templates(directory=str(_HERE / "templates"))
templates.env.autoescape = True
templates.env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": True}


def _fmt_time(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return "" if value is None else str(value)


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


templates.env.filters["time"] = _fmt_time
templates.env.filters["pretty"] = _pretty


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def translator(request: Request) -> Translator:
    return Translator(pick_lang(request.cookies.get(LANG_COOKIE),
                                request.headers.get("accept-language")))


class SignInRequired(Exception):
    """Raised by the session dependency; answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str, code: str):
        self.next_path = next_path
        self.code = code


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def client_key(svc: Services, request: Request) -> str:
    """Keyed hash of the client address: the rate limit's key, never the address."""
    ring = svc.keyring
    raw = client_ip(request).encode()
    digest = ring.mac("console-client", raw) if ring is not None else hashlib.sha256(raw).digest()
    return digest.hex()[:64]


async def current_session(request: Request) -> ConsoleSession:
    svc = services(request)
    try:
        session = await run_in_threadpool(
            accounts.resume, svc.state_engine, request.cookies.get(COOKIE),
            idle_s=svc.settings.console_idle_s)
    except GatewayError as exc:
        raise SignInRequired(request.url.path, exc.code) from None
    request.state.console = session
    return session


SessionDep = Annotated[ConsoleSession, Depends(current_session)]


def require(role: str) -> Callable[..., Coroutine[Any, Any, ConsoleSession]]:
    async def _check(session: SessionDep) -> ConsoleSession:
        if not session.has_role(role):
            raise Forbidden(f"this page needs role '{role}'", code="role_required")
        return session

    return _check


AdminSession = Annotated[ConsoleSession, Depends(require("admin"))]
ReviewerSession = Annotated[ConsoleSession, Depends(require("reviewer"))]
AuditorSession = Annotated[ConsoleSession, Depends(require("auditor"))]


def _same_origin(request: Request) -> bool:
    """A browser's Origin (or Referer) must name this host; absent both, the CSRF token
    alone decides."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def check_csrf(request: Request, session: SessionDep) -> ConsoleSession:
    """Every state-changing console request carries the session's CSRF token, in the
    ``csrf_token`` form field or the ``X-CSRF-Token`` header (htmx)."""
    submitted = request.headers.get("x-csrf-token")
    if submitted is None:
        form = await request.form()
        value = form.get("csrf_token")
        submitted = value if isinstance(value, str) else None
    if not accounts.csrf_ok(session, submitted) or not _same_origin(request):
        raise Forbidden("the form has expired or did not come from this console; reload "
                        "the page and try again", code="csrf_failed")
    return session


CsrfSession = Annotated[ConsoleSession, Depends(check_csrf)]


def require_action(role: str) -> Callable[..., Coroutine[Any, Any, ConsoleSession]]:
    """A state-changing request: the CSRF check, then the role."""
    async def _check(session: CsrfSession) -> ConsoleSession:
        if not session.has_role(role):
            raise Forbidden(f"this action needs role '{role}'", code="role_required")
        return session

    return _check


AdminAction = Annotated[ConsoleSession, Depends(require_action("admin"))]
ReviewerAction = Annotated[ConsoleSession, Depends(require_action("reviewer"))]
AuditorAction = Annotated[ConsoleSession, Depends(require_action("auditor"))]


def render(request: Request, template: str, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    t = translator(request)
    done = context.get("done")
    if done is not None and not (isinstance(done, str) and t.known("done." + done)):
        context["done"] = None  # only messages of the catalog, never text from the URL
    session: ConsoleSession | None = getattr(request.state, "console", None)
    ctx = {"t": t, "lang": t.lang, "langs": LANGS, "lang_names": LANG_NAMES,
           "session": session, "user": session.principal if session else None,
           "csrf_token": session.csrf_token if session else "", "path": request.url.path,
           "request_id": getattr(request.state, "request_id", ""), **context}
    return templates.TemplateResponse(request, template, ctx, status_code=status_code)


def redirect(path: str, **query: str) -> RedirectResponse:
    if query:
        path += "?" + "&".join(f"{k}={quote(v)}" for k, v in query.items())
    return RedirectResponse(path, status_code=303)


def record(svc: Services, request: Request, event: str, *, principal_id: str | None,
           outcome: str = "ok", **details: Any) -> None:
    """One audit entry (kind ``console``) per sign-in and per console action. Details are
    ids and codes, never personal values; raises AuditUnavailable (the action is then
    refused: fail closed)."""
    entry: dict[str, Any] = {"event": event, "outcome": outcome,
                             "principal": {"operator_id": principal_id},
                             "client_ip": client_ip(request), **details}
    svc.recorder.record("console", str(getattr(request.state, "request_id", "")), entry)


T = TypeVar("T")


async def perform(request: Request, session: ConsoleSession, event: str, target: str,
                  action: Callable[[], T], *,
                  result_ids: Callable[[T], dict[str, Any]] | None = None,
                  **details: Any) -> T:
    """Run one console action (a call into the same service functions as the API) in the
    thread pool and write its audit entry (kind ``console``) with the outcome, success or
    refusal. ``target`` and ``details`` are ids, never personal values; ``result_ids``
    picks ids out of the result for the entry (e.g. a new key's id, never its secret). If
    the entry cannot be written the request fails with 503 (AuditUnavailable)."""
    svc = services(request)
    try:
        result = await run_in_threadpool(action)
    except GatewayError as exc:
        await run_in_threadpool(record, svc, request, event, principal_id=session.principal.id,
                                outcome=exc.code, target=target, **details)
        raise
    if result_ids is not None:
        details = {**details, **result_ids(result)}
    await run_in_threadpool(record, svc, request, event, principal_id=session.principal.id,
                            target=target, **details)
    return result


def error_page(request: Request, exc: GatewayError) -> Response:
    """Console failures as a page in the console's language (the API keeps JSON)."""
    if request.headers.get("hx-request"):
        t = translator(request)
        return HTMLResponse(
            f'<p class="error" role="alert">{_escape(t.error(exc.code, exc.message))}'
            f' <code>{_escape(exc.code)}</code></p>',
            status_code=exc.status_code)
    return render(request, "error.html", status_code=exc.status_code, error=exc)


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def sign_in_redirect(request: Request, exc: SignInRequired) -> Response:
    target = f"{PREFIX}/login?next={quote(exc.next_path)}"
    if exc.code == "session_expired":
        target += "&expired=1"
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def cookie_secure(request: Request, svc: Services) -> bool:
    mode = svc.settings.console_cookie_secure
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")
