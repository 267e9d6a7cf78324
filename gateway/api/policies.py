"""Admin API for policy versions: list, show, diff, create, check, propose, approve,
reject, activate, rollback (gateway.policy.versions), replay and what-if
(gateway.policy.replay), signed bundles (gateway.policy.opabundle). Admin role only.

Handlers are thin: what they do beyond parsing is in gateway.policy.lifecycle and
gateway.policy.versions, which the console's policy pages call as well.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gateway.api.deps import AdminDep, ServicesDep
from gateway.api.errors import request_id
from gateway.policy import lifecycle
from gateway.policy import versions as pv
from gateway.policy.bundle import PolicyBundle
from gateway.policy.lifecycle import bundle_files
from gateway.policy.opabundle import export_bundle

__all__ = ["bundle_files", "router"]  # bundle_files: re-exported for `pgw policy export`

router = APIRouter(prefix="/admin/v1/policies", tags=["policies"])


class VersionIn(BaseModel):
    """A new draft: Rego modules and tests by path, the data document."""

    model_config = ConfigDict(extra="forbid")
    modules: dict[str, str] = Field(min_length=1)
    tests: dict[str, str] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    message: str = Field(min_length=1, max_length=2000)
    parent: int | None = None


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=2000)


@router.get("")
def list_versions(svc: ServicesDep, _: AdminDep) -> dict[str, Any]:
    pointer = pv.active_pointer(svc.state_engine)
    return {"versions": [v.to_json() for v in pv.list_versions(svc.state_engine)],
            "active": None if pointer is None else {"version_id": pointer[0],
                                                    "generation": pointer[1]}}


@router.post("", status_code=201)
def create_draft(body: VersionIn, request: Request, svc: ServicesDep,
                 admin: AdminDep) -> dict[str, Any]:
    """Store a draft (no checks yet, except that a version whose files do not parse or
    that calls a forbidden builtin is never stored: 422 ``draft_refused``)."""
    bundle = PolicyBundle.build(body.modules, body.data, body.tests)
    version = lifecycle.create_draft(svc.state_engine, svc.recorder, request_id(request),
                                     bundle, author=admin.id, message=body.message,
                                     parent_id=body.parent)
    return version.to_json()


@router.get("/{version}")
def show(version: str, svc: ServicesDep, _: AdminDep) -> dict[str, Any]:
    vid = pv.resolve(svc.state_engine, version)
    return {**pv.get_version(svc.state_engine, vid).to_json(),
            "files": bundle_files(pv.get_bundle(svc.state_engine, vid)),
            "events": pv.events(svc.state_engine, vid)}


@router.get("/{version}/diff")
def diff(version: str, svc: ServicesDep, _: AdminDep,
         against: str | None = None) -> dict[str, Any]:
    """Unified diff from ``against`` (default: the version's parent, else the active
    version) to ``version``."""
    found = lifecycle.diff(svc.state_engine, pv.resolve(svc.state_engine, version), against)
    return {"from": found.base, "to": found.target, "diff": found.text}


@router.post("/{version}/check")
async def check(version: str, svc: ServicesDep, _: AdminDep) -> dict[str, Any]:
    vid = pv.resolve(svc.state_engine, version)
    report = await run_in_threadpool(pv.check, svc.state_engine, vid)
    return {"version_id": vid, **report.to_json()}


@router.post("/{version}/propose")
async def propose(version: str, request: Request, svc: ServicesDep,
                  admin: AdminDep) -> dict[str, Any]:
    vid = pv.resolve(svc.state_engine, version)
    proposed, report = await run_in_threadpool(pv.propose, svc.state_engine, svc.recorder,
                                               request_id(request), vid, admin.id)
    return {**proposed.to_json(), "checks": report.to_json()}


@router.post("/{version}/approve")
def approve(version: str, request: Request, svc: ServicesDep,
            admin: AdminDep, body: NoteIn | None = None) -> dict[str, Any]:
    vid = pv.resolve(svc.state_engine, version)
    return pv.review_audited(svc.state_engine, svc.recorder, request_id(request), vid,
                             admin.id, approve=True, note=body.note if body else "").to_json()


@router.post("/{version}/reject")
def reject(version: str, request: Request, svc: ServicesDep,
           admin: AdminDep, body: NoteIn | None = None) -> dict[str, Any]:
    vid = pv.resolve(svc.state_engine, version)
    return pv.review_audited(svc.state_engine, svc.recorder, request_id(request), vid,
                             admin.id, approve=False, note=body.note if body else "").to_json()


@router.post("/{version}/activate")
def activate(version: str, request: Request, svc: ServicesDep,
             admin: AdminDep) -> dict[str, Any]:
    """Activate an approved version. With the OPA-server engine the version is pushed to
    the server and a sample of recorded decisions is decided on both engines: on an error
    or any difference the activation is rolled back and reported failed (502)."""
    vid = pv.resolve(svc.state_engine, version)
    return lifecycle.activate(svc, request_id(request), vid, admin.id).to_json()


@router.get("/{version}/bundle", response_model=None)
def bundle(version: str, svc: ServicesDep, _: AdminDep,
           include_tests: bool = False) -> Response:
    """The version as a signed OPA bundle (.tar.gz, ES256 `.signatures.json`)."""
    vid = pv.resolve(svc.state_engine, version)
    body, headers = export_bundle(pv.get_bundle(svc.state_engine, vid),
                                  svc.keyring_or_fail(), include_tests=include_tests)
    return Response(body, headers=headers)


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    last: int | None = Field(None, ge=1, le=1_000_000)
    since: dt.datetime | None = None
    examples: int = Field(5, ge=0, le=50)


@router.post("/{version}/replay")
async def replay_version(version: str, svc: ServicesDep, _: AdminDep,
                         body: ReplayIn | None = None) -> dict[str, Any]:
    """Re-decide recorded decisions under VERSION: what would change (weaker protection
    flagged), with examples."""
    body = body or ReplayIn()
    vid = pv.resolve(svc.state_engine, version)
    summary = await run_in_threadpool(lifecycle.replay_version, svc.state_engine, vid,
                                      last=body.last, since=body.since,
                                      examples=body.examples)
    return summary.to_json()


@router.post("/{version}/what-if")
def what_if_version(version: str, body: dict[str, Any], svc: ServicesDep,
                    _: AdminDep) -> dict[str, Any]:
    """Decide one input under VERSION and list the rules that fired."""
    vid = pv.resolve(svc.state_engine, version)
    return lifecycle.what_if_version(svc.state_engine, vid, body)


@router.post("/rollback", name="rollback")
def rollback(request: Request, svc: ServicesDep, admin: AdminDep) -> dict[str, Any]:
    now_active, rolled_back = pv.rollback_audited(svc.state_engine, svc.recorder,
                                                  request_id(request), admin.id)
    return {"active": now_active.to_json(), "rolled_back": rolled_back.to_json()}
