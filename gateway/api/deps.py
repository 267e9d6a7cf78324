"""Request dependencies as named ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from gateway.auth import Principal, authenticate
from gateway.errors import Forbidden
from gateway.request_auth import is_signed, verify_signed_request
from gateway.services import Services


def get_services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_principal(request: Request, svc: ServicesDep,
                        authorization: Annotated[str | None, Header()] = None) -> Principal:
    """An HMAC-signed request (docs/signed-requests.md) or an API key."""
    if is_signed(request.headers):
        body = await request.body()  # cached by Starlette: the endpoint still parses it
        return await run_in_threadpool(
            verify_signed_request, svc.state_engine, svc.keyring_or_fail(), svc.nonces,
            request.method, request.url.path, request.url.query, body, request.headers, None,
            skew_s=svc.settings.signed_skew_s)
    return await run_in_threadpool(authenticate, svc.state_engine, authorization)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_role(role: str):  # type: ignore[no-untyped-def]
    async def _check(principal: PrincipalDep) -> Principal:
        if not principal.has_role(role):
            raise Forbidden(f"this endpoint needs role '{role}'", code="role_required")
        return principal

    return _check


OperatorDep = Annotated[Principal, Depends(require_role("operator"))]
AdminDep = Annotated[Principal, Depends(require_role("admin"))]
AuditorDep = Annotated[Principal, Depends(require_role("auditor"))]
