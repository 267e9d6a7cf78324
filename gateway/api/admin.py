"""Admin API: catalog registration, principals and API keys, grants."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gateway import auth, grants, request_auth
from gateway.api.deps import AdminDep, ServicesDep
from gateway.catalog import DatasetSpec
from gateway.grants import GrantSpec

router = APIRouter(prefix="/admin/v1", tags=["admin"])


class UpstreamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    url: str


class PrincipalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(min_length=1)
    org_uscc: str | None = None


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["active", "suspended", "revoked", "expired"]


@router.post("/upstreams", status_code=201)
def register_upstream(body: UpstreamIn, svc: ServicesDep, _: AdminDep) -> dict[str, str]:
    svc.catalog.register_upstream(body.id, body.url)
    svc.stores.update({body.id: body.url})
    return {"id": body.id}


@router.get("/datasets")
def list_datasets(svc: ServicesDep, _: AdminDep) -> dict[str, Any]:
    return {"datasets": [d.model_dump() for d in svc.catalog.all()]}


@router.post("/datasets", status_code=201)
def register_dataset(body: DatasetSpec, svc: ServicesDep, _: AdminDep) -> dict[str, str]:
    svc.catalog.register_dataset(body)
    return {"id": body.id}


@router.post("/principals", status_code=201)
def create_principal(body: PrincipalIn, svc: ServicesDep, _: AdminDep) -> dict[str, str]:
    auth.create_principal(svc.state_engine, body.id, body.name, roles=body.roles,
                          org_uscc=body.org_uscc)
    return {"id": body.id}


@router.post("/principals/{principal_id}/keys", status_code=201)
def create_key(principal_id: str, body: KeyIn, svc: ServicesDep,
               _: AdminDep) -> dict[str, str]:
    """The token is shown once; only its hash is stored."""
    key_id, token = auth.create_api_key(svc.state_engine, principal_id, body.role)
    return {"key_id": key_id, "token": token}


@router.post("/principals/{principal_id}/signing-keys", status_code=201)
def create_signing_key(principal_id: str, svc: ServicesDep, _: AdminDep) -> dict[str, str]:
    """An HMAC request-signing secret (shown once; stored wrapped by the key ring). At most
    two are active per principal, so keys rotate without downtime."""
    key_id, secret = request_auth.create_signing_key(svc.state_engine, svc.keyring_or_fail(),
                                                     principal_id)
    return {"key_id": key_id, "secret": secret}


@router.delete("/signing-keys/{key_id}", status_code=204)
def revoke_signing_key(key_id: str, svc: ServicesDep, _: AdminDep) -> None:
    request_auth.revoke_signing_key(svc.state_engine, key_id)


@router.delete("/keys/{key_id}", status_code=204)
def revoke_key(key_id: str, svc: ServicesDep, _: AdminDep) -> None:
    auth.revoke_api_key(svc.state_engine, key_id)


@router.post("/grants", status_code=201)
async def create_grant(body: GrantSpec, svc: ServicesDep, _: AdminDep) -> dict[str, str]:
    dataset = await run_in_threadpool(svc.catalog.get, body.dataset_id)
    grant_id = await run_in_threadpool(grants.create_grant, svc.state_engine, body, dataset)
    return {"id": grant_id}


@router.get("/grants")
def list_all_grants(svc: ServicesDep, _: AdminDep) -> dict[str, Any]:
    return {"grants": grants.list_grants(svc.state_engine)}


@router.post("/grants/{grant_id}/status")
def set_grant_status(grant_id: str, body: StatusIn, svc: ServicesDep,
                     _: AdminDep) -> dict[str, str]:
    """Suspend, resume, revoke or expire. The next request reads the new status."""
    grants.set_status(svc.state_engine, grant_id, body.status)
    return {"id": grant_id, "status": body.status}
