"""Sign-in, sign-out, the home page and the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.console import accounts
from gateway.console.i18n import LANGS
from gateway.console.web import (
    COOKIE,
    LANG_COOKIE,
    PREFIX,
    CsrfSession,
    SessionDep,
    client_key,
    cookie_secure,
    record,
    redirect,
    render,
    services,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a path inside the console (no open redirect)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") \
            and "\\" not in target and "://" not in target:
        return target
    return PREFIX + "/"


@router.get("/login")
def login_page(request: Request, next: str | None = None, expired: int = 0) -> Response:
    return render(request, "login.html", next=_safe_next(next), expired=bool(expired))


@router.post("/login")
async def login(request: Request, username: Annotated[str, Form(max_length=64)],
                password: Annotated[str, Form(max_length=1024)],
                next: Annotated[str, Form(max_length=500)] = PREFIX + "/") -> Response:
    svc = services(request)
    client = client_key(svc, request)
    result = await run_in_threadpool(
        accounts.sign_in, svc.state_engine, username.strip(), password, client=client,
        idle_s=svc.settings.console_idle_s, absolute_s=svc.settings.console_session_s)
    # Recorded whatever the outcome; an unknown user name is not recorded (it may be a
    # password typed into the wrong field).
    await run_in_threadpool(record, svc, request, "sign_in", principal_id=result.principal_id,
                            outcome=result.outcome)
    if result.outcome != "ok" or result.session_token is None:
        status = {"rate_limited": 429, "locked": 423}.get(result.outcome, 401)
        page = render(request, "login.html", status_code=status, next=_safe_next(next),
                          failure=result.outcome, expired=False)
        if result.outcome == "rate_limited":
            retry = await run_in_threadpool(accounts.retry_after, svc.state_engine, client)
            page.headers["Retry-After"] = str(retry or accounts.RATE_WINDOW_S)
        return page
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(COOKIE, result.session_token, max_age=svc.settings.console_session_s,
                        path=PREFIX, httponly=True, samesite="strict",
                        secure=cookie_secure(request, svc))
    return response


@router.post("/logout")
async def logout(request: Request, session: CsrfSession) -> Response:
    svc = services(request)
    await run_in_threadpool(accounts.sign_out, svc.state_engine, session.token_hash)
    await run_in_threadpool(record, svc, request, "sign_out",
                            principal_id=session.principal.id)
    response = redirect(PREFIX + "/login")
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@router.post("/lang")
async def set_lang(request: Request, session: CsrfSession,
                   lang: Annotated[str, Form(max_length=8)],
                   back: Annotated[str, Form(max_length=500)] = PREFIX + "/") -> Response:
    response = redirect(_safe_next(back))
    if lang in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path=PREFIX,
                            httponly=True, samesite="strict")
    return response


@router.get("/")
def home(request: Request, session: SessionDep) -> Response:
    return render(request, "home.html")
