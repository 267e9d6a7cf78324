"""Admin pages: the catalog, principals and their keys, grants, licenses, console users.

Every page reads and acts through the same functions as the admin API (gateway.auth,
catalog, grants, licenses, request_auth and gateway.console.accounts) with the signed-in
admin as the actor. Every POST goes through ``perform``, which writes the ``console`` audit
entry; a refusal re-renders the page with the error and its status (never a 500).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway import auth, grants, licenses, request_auth
from gateway.clock import CST, as_utc
from gateway.console import accounts
from gateway.console.accounts import ConsoleSession
from gateway.console.admin_forms import (
    FIELD_PREFIX,
    license_form_values,
    license_from_form,
    masked_url,
    term_days,
)
from gateway.console.web import (
    PREFIX,
    AdminAction,
    AdminSession,
    perform,
    redirect,
    render,
    services,
)
from gateway.errors import Conflict, GatewayError, Unprocessable
from gateway.grants import GrantStatus
from gateway.licenses import LicenseStatus
from gateway.quotas import QUOTA_KEYS

BASE = PREFIX + "/admin"
router = APIRouter(prefix=BASE, include_in_schema=False)

Id = Annotated[str, Path(max_length=64)]
_DONE = re.compile(r"[a-z_]{1,40}")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _engine(request: Request) -> sa.Engine:
    return services(request).state_engine


def _done(done: str | None) -> str | None:
    return done if done and _DONE.fullmatch(done) else None


async def _act(request: Request, session: ConsoleSession, event: str, target: str,
               action: Callable[[], object], *, page: Literal["operators", "users"],
               done: str, **details: Any) -> Response:
    """One audited action from a list page: back to the page with the notice, or the page
    again with the refusal (its status and code)."""
    try:
        await perform(request, session, event, target, action, **details)
    except GatewayError as exc:
        again = _operators if page == "operators" else _users
        return await again(request, exc.status_code, error=exc, form={})
    return redirect(f"{BASE}/{page}", done=done)


# --- catalog --------------------------------------------------------------------------


@router.get("/catalog")
def catalog_page(request: Request, session: AdminSession) -> Response:
    svc = services(request)
    upstreams = {k: masked_url(v) for k, v in sorted(svc.catalog.upstream_urls().items())}
    return render(request, "admin/catalog.html", datasets=svc.catalog.all(),
                  upstreams=upstreams)


@router.get("/catalog/{dataset_id}")
def dataset_page(dataset_id: Id, request: Request, session: AdminSession) -> Response:
    return render(request, "admin/dataset.html", ds=services(request).catalog.get(dataset_id))


# --- principals, API keys, signing keys and grants -----------------------------------


def _operators_context(engine: sa.Engine) -> dict[str, Any]:
    principals = auth.list_principals(engine)
    signing = [{**k, "principal_id": p["id"], "created_at": as_utc(k["created_at"]),
                "revoked_at": as_utc(k["revoked_at"]) if k["revoked_at"] else None}
               for p in principals for k in request_auth.list_signing_keys(engine, p["id"])]
    return {"principals": principals, "api_keys": auth.list_api_keys(engine),
            "signing_keys": signing, "grants": grants.list_grants(engine),
            "roles": sorted(auth.ROLES)}


async def _operators(request: Request, status_code: int = 200, **extra: Any) -> Response:
    ctx = await run_in_threadpool(_operators_context, _engine(request))
    return render(request, "admin/operators.html", status_code=status_code, **ctx, **extra)


@router.get("/operators")
async def operators_page(request: Request, session: AdminSession,
                         done: str | None = None) -> Response:
    return await _operators(request, done=_done(done), form={})


@router.post("/operators/principals")
async def create_principal(
        request: Request, session: AdminAction,
        principal_id: Annotated[str, Form(max_length=64)],
        name: Annotated[str, Form(min_length=1, max_length=200)],
        roles: Annotated[list[str] | None, Form(max_length=8)] = None,
        org_uscc: Annotated[str, Form(max_length=32)] = "") -> Response:
    engine, chosen, pid = _engine(request), roles or [], principal_id.strip()
    try:
        await perform(request, session, "principal_create", pid,
                      lambda: auth.create_principal(engine, pid, name.strip(), roles=chosen,
                                                    org_uscc=org_uscc.strip() or None),
                      roles=sorted(chosen))
    except GatewayError as exc:
        form = {"principal_id": pid, "name": name, "roles": chosen, "org_uscc": org_uscc}
        return await _operators(request, exc.status_code, error=exc, form=form)
    return redirect(BASE + "/operators", done="admin_principal_created")


def _shown_once(request: Request, **context: Any) -> Response:
    """The page that shows a new secret: once, never cached, never again."""
    page = render(request, "admin/secret_once.html", **context)
    page.headers.update(_NO_STORE)
    return page


@router.post("/operators/principals/{principal_id}/keys")
async def issue_api_key(principal_id: Id, request: Request, session: AdminAction,
                        role: Annotated[str, Form(max_length=16)]) -> Response:
    engine = _engine(request)
    try:
        key_id, token = await perform(
            request, session, "api_key_issue", principal_id,
            lambda: auth.create_api_key(engine, principal_id, role), role=role,
            result_ids=lambda res: {"key_id": res[0]})
    except GatewayError as exc:
        return await _operators(request, exc.status_code, error=exc, form={})
    return _shown_once(request, kind="api_key", principal_id=principal_id, key_id=key_id,
                       secret=token, role=role)


@router.post("/operators/keys/{key_id}/revoke")
async def revoke_api_key(key_id: Id, request: Request, session: AdminAction) -> Response:
    engine = _engine(request)
    return await _act(request, session, "api_key_revoke", key_id,
                      lambda: auth.revoke_api_key(engine, key_id), page="operators",
                      done="admin_key_revoked")


@router.post("/operators/principals/{principal_id}/signing-keys")
async def issue_signing_key(principal_id: Id, request: Request,
                            session: AdminAction) -> Response:
    svc = services(request)
    try:
        key_id, secret = await perform(
            request, session, "signing_key_issue", principal_id,
            lambda: request_auth.create_signing_key(svc.state_engine, svc.keyring_or_fail(),
                                                    principal_id),
            result_ids=lambda res: {"key_id": res[0]})
    except GatewayError as exc:
        return await _operators(request, exc.status_code, error=exc, form={})
    return _shown_once(request, kind="signing_key", principal_id=principal_id, key_id=key_id,
                       secret=secret, role=None)


@router.post("/operators/signing-keys/{key_id}/revoke")
async def revoke_signing_key(key_id: Id, request: Request, session: AdminAction) -> Response:
    engine = _engine(request)
    return await _act(request, session, "signing_key_revoke", key_id,
                      lambda: request_auth.revoke_signing_key(engine, key_id),
                      page="operators", done="admin_signing_key_revoked")


@router.post("/operators/grants/{grant_id}/status")
async def grant_status(grant_id: Id, request: Request, session: AdminAction,
                       status: Annotated[GrantStatus, Form()]) -> Response:
    """Suspend, resume or revoke a grant: what ``POST /admin/v1/grants/{id}/status`` does."""
    engine = _engine(request)
    return await _act(request, session, "grant_status", grant_id,
                      lambda: grants.set_status(engine, grant_id, status), page="operators",
                      done="admin_grant_" + status, status=status)


# --- licenses -------------------------------------------------------------------------

LicenseStep = Literal["suspend", "resume", "revoke"]


@router.get("/licenses")
def licenses_page(request: Request, session: AdminSession,
                  status: LicenseStatus | Literal[""] = "",
                  done: str | None = None) -> Response:
    docs = [_with_days(d) for d in licenses.list_licenses(_engine(request),
                                                          status=status or None)]
    return render(request, "admin/licenses.html", done=_done(done), status=status,
                  statuses=("active", "suspended", "revoked", "expired"), licenses=docs)


def _with_days(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "term_days": term_days(doc["term_start"], doc["term_end"])}


def _license_form_context(request: Request) -> dict[str, Any]:
    svc = services(request)
    operators = [p for p in auth.list_principals(svc.state_engine) if "operator" in p["roles"]]
    return {"operators": operators, "datasets": svc.catalog.all(), "quota_keys": QUOTA_KEYS,
            "field_prefix": FIELD_PREFIX, "modes": ("rows", "aggregate", "verify"),
            "units": ("call", "row", "month")}


async def _license_form(request: Request, values: dict[str, Any], status_code: int = 200,
                        **extra: Any) -> Response:
    ctx = await run_in_threadpool(_license_form_context, request)
    return render(request, "admin/license_new.html", status_code=status_code, values=values,
                  **ctx, **extra)


@router.get("/licenses/new")
async def license_form(request: Request, session: AdminSession) -> Response:
    today = dt.datetime.now(CST).date()
    try:
        end = today.replace(year=today.year + 1) - dt.timedelta(days=1)
    except ValueError:  # 29 February
        end = today + dt.timedelta(days=364)
    values = {"term_start": today.isoformat(), "term_end": end.isoformat(),
              "fee_mode": "free", "destruction_days": "30", "modes": ["rows"]}
    return await _license_form(request, values)


@router.post("/licenses/new")
async def issue_license(request: Request, session: AdminAction) -> Response:
    """Issue through ``licenses.issue`` with the form mapped onto the API's ``LicenseIn``."""
    svc = services(request)
    form = await request.form()
    datasets = await run_in_threadpool(svc.catalog.all)
    typed = form.get("operator_id")
    operator_id = typed[:64] if isinstance(typed, str) else ""
    chosen = [d.id for d in datasets if form.getlist(FIELD_PREFIX + d.id)]

    def issue() -> str:
        body = license_from_form(form, datasets)
        return licenses.issue(svc.state_engine, svc.catalog, session.principal, body)

    try:
        lic_id = await perform(request, session, "license_issue", operator_id, issue,
                               datasets=chosen)
    except GatewayError as exc:
        return await _license_form(request, license_form_values(form), exc.status_code,
                                   error=exc)
    return redirect(f"{BASE}/licenses/{lic_id}", done="admin_license_issued")


@router.get("/licenses/{license_id}")
def license_page(license_id: Id, request: Request, session: AdminSession,
                 done: str | None = None) -> Response:
    return render(request, "admin/license.html", done=_done(done),
                  lic=_with_days(licenses.get_license(_engine(request), license_id)))


@router.post("/licenses/{license_id}/{action}")
async def change_license(license_id: Id, action: LicenseStep, request: Request,
                         session: AdminAction,
                         note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """Suspend, resume or revoke the license and all its grants (``licenses.change_status``,
    as ``POST /admin/v1/licenses/{id}/{action}``); the next request sees it."""
    engine = _engine(request)
    try:
        await perform(request, session, "license_" + action, license_id,
                      lambda: licenses.change_status(engine, session.principal, license_id,
                                                     action, note.strip()))
    except GatewayError as exc:
        lic = await run_in_threadpool(licenses.get_license, engine, license_id)
        return render(request, "admin/license.html", status_code=exc.status_code, error=exc,
                      lic=_with_days(lic))
    return redirect(f"{BASE}/licenses/{license_id}", done="admin_license_" + action)


# --- console users --------------------------------------------------------------------


async def _users(request: Request, status_code: int = 200, **extra: Any) -> Response:
    rows = await run_in_threadpool(accounts.list_accounts, _engine(request))
    return render(request, "admin/users.html", status_code=status_code, accounts=rows,
                  staff_roles=accounts.STAFF_ROLES, min_password=accounts.MIN_PASSWORD,
                  **extra)


def _new_password(password: str, confirm: str) -> None:
    if password != confirm:
        raise Unprocessable("the two passwords differ", code="password_mismatch")
    accounts.check_password_strength(password)


@router.get("/users")
async def users_page(request: Request, session: AdminSession,
                     done: str | None = None) -> Response:
    return await _users(request, done=_done(done), form={})


@router.post("/users")
async def create_user(
        request: Request, session: AdminAction,
        principal_id: Annotated[str, Form(max_length=64)],
        name: Annotated[str, Form(min_length=1, max_length=200)],
        roles: Annotated[list[str] | None, Form(max_length=8)] = None,
        org_uscc: Annotated[str, Form(max_length=32)] = "",
        password: Annotated[str, Form(max_length=1024)] = "",
        password_confirm: Annotated[str, Form(max_length=1024)] = "") -> Response:
    """A staff principal (``auth.create_principal``) and, if a password is given, its
    console account (``accounts.set_password``): two actions, two audit entries."""
    engine, chosen, pid = _engine(request), roles or [], principal_id.strip()

    def create() -> None:
        if not chosen or set(chosen) - set(accounts.STAFF_ROLES):
            raise Unprocessable("console users are admins, reviewers or auditors; create "
                                "operators on the operators page", code="invalid_role")
        if password:
            _new_password(password, password_confirm)
        auth.create_principal(engine, pid, name.strip(), roles=chosen,
                              org_uscc=org_uscc.strip() or None)

    try:
        await perform(request, session, "principal_create", pid, create, roles=sorted(chosen))
        if password:
            await perform(request, session, "console_password_set", pid,
                          lambda: accounts.set_password(engine, pid, password))
    except GatewayError as exc:
        form = {"principal_id": pid, "name": name, "roles": chosen, "org_uscc": org_uscc}
        return await _users(request, exc.status_code, error=exc, form=form)
    return redirect(BASE + "/users", done="admin_user_created")


@router.post("/users/{principal_id}/password")
async def set_password(principal_id: Id, request: Request, session: AdminAction,
                       password: Annotated[str, Form(max_length=1024)],
                       password_confirm: Annotated[str, Form(max_length=1024)]) -> Response:
    """Set or reset a console password; the account's open sessions end."""
    engine = _engine(request)

    def change() -> None:
        _new_password(password, password_confirm)
        accounts.set_password(engine, principal_id, password)

    return await _act(request, session, "console_password_set", principal_id, change,
                      page="users", done="admin_password_set")


@router.post("/users/{principal_id}/unlock")
async def unlock(principal_id: Id, request: Request, session: AdminAction) -> Response:
    engine = _engine(request)
    return await _act(request, session, "console_unlock", principal_id,
                      lambda: accounts.unlock(engine, principal_id), page="users",
                      done="admin_unlocked")


def _not_self(session: Any, principal_id: str) -> None:
    if principal_id == session.principal.id:
        raise Conflict("you cannot change your own roles or disable yourself; ask another "
                       "admin", code="own_account")


@router.post("/users/{principal_id}/roles")
async def set_roles(principal_id: Id, request: Request, session: AdminAction,
                    roles: Annotated[list[str] | None, Form(max_length=8)] = None) -> Response:
    """Change a staff principal's console roles (an operator role it holds is kept); API
    keys of a removed role are revoked, sessions follow on their next request."""
    engine, chosen = _engine(request), sorted(set(roles or []))

    def change() -> list[str]:
        _not_self(session, principal_id)
        return auth.set_roles(engine, principal_id, chosen, within=accounts.STAFF_ROLES)

    return await _act(request, session, "principal_roles", principal_id, change,
                      page="users", done="admin_roles_set", roles=chosen)


@router.post("/users/{principal_id}/status")
async def set_status(principal_id: Id, request: Request, session: AdminAction,
                     status: Annotated[str, Form(max_length=16)]) -> Response:
    engine = _engine(request)

    def change() -> None:
        _not_self(session, principal_id)
        auth.set_status(engine, principal_id, status)

    return await _act(request, session, "principal_status", principal_id, change,
                      page="users", status=status[:16],
                      done="admin_status_" + ("disabled" if status == "disabled" else "active"))
