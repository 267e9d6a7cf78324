"""Admin API for policy versions: list, show, diff, create, check, propose, approve,
reject, activate, rollback (gateway.policy.versions). Admin role only.

Replay (``POST /{version}/replay``) and bundles (``GET /{version}/bundle``) belong to
gateway.policy.replay and gateway.policy.opabundle; their routes go on this router.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gateway.api.deps import AdminDep, ServicesDep
from gateway.api.errors import request_id
from gateway.auditlog import audit_log
from gateway.auditlog.entries import parse_leaf
from gateway.errors import GatewayError
from gateway.policy import versions as pv
from gateway.policy.bundle import PolicyBundle, check_forbidden_builtins
from gateway.policy.opabundle import export_bundle
from gateway.policy.replay import replay, what_if
from gateway.policy.samples import sample_inputs
from gateway.policy.sync import embedded_for, sync_and_check
from gateway.services import Services

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


def bundle_files(bundle: PolicyBundle) -> dict[str, str]:
    """A version as the plain files it exports to (``data.json`` canonical, indented)."""
    files = {**bundle.modules, **bundle.tests}
    files["data.json"] = json.dumps(dict(bundle.data), ensure_ascii=False, indent=2,
                                    sort_keys=True) + "\n"
    return files


def unified_diff(old: PolicyBundle, new: PolicyBundle, old_name: str, new_name: str) -> str:
    """The unified diff of every file of two versions."""
    a, b = bundle_files(old), bundle_files(new)
    out: list[str] = []
    for path in sorted(set(a) | set(b)):
        out.extend(difflib.unified_diff(
            a.get(path, "").splitlines(keepends=True), b.get(path, "").splitlines(keepends=True),
            fromfile=f"{old_name}/{path}" if path in a else "/dev/null",
            tofile=f"{new_name}/{path}" if path in b else "/dev/null"))
    return "".join(out)


@router.get("")
def list_versions(svc: ServicesDep, _: AdminDep) -> dict[str, Any]:
    pointer = pv.active_pointer(svc.state_engine)
    return {"versions": [v.to_json() for v in pv.list_versions(svc.state_engine)],
            "active": None if pointer is None else {"version_id": pointer[0],
                                                    "generation": pointer[1]}}


@router.post("", status_code=201)
def create_draft(body: VersionIn, svc: ServicesDep, admin: AdminDep) -> dict[str, Any]:
    """Store a draft (no checks yet, except that forbidden builtins are never stored)."""
    bundle = PolicyBundle.build(body.modules, body.data, body.tests)
    check_forbidden_builtins(bundle)
    if body.parent is not None:
        pv.get_version(svc.state_engine, body.parent)
    version = pv.create_version(svc.state_engine, bundle, author=admin.id,
                                message=body.message, parent_id=body.parent)
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
    vid = pv.resolve(svc.state_engine, version)
    if against is None:
        parent = pv.get_version(svc.state_engine, vid).parent_id
        base = parent if parent is not None else pv.resolve(svc.state_engine, "active")
    else:
        base = pv.resolve(svc.state_engine, against)
    text = unified_diff(pv.get_bundle(svc.state_engine, base),
                        pv.get_bundle(svc.state_engine, vid), f"v{base}", f"v{vid}")
    return {"from": base, "to": vid, "diff": text}


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
    activated = pv.activate_audited(svc.state_engine, svc.recorder, request_id(request), vid,
                                    admin.id)
    if svc.settings.policy_engine == "opa":
        bundle = pv.get_bundle(svc.state_engine, vid)
        embedded = embedded_for(bundle)
        try:
            sync_and_check(svc.settings.opa_url, bundle, embedded, _sync_samples(svc),
                           timeout_s=svc.settings.policy_timeout_s)
        except GatewayError as exc:
            pv.rollback(svc.state_engine, admin.id)
            pv.audit(svc.recorder, request_id(request), "failed_push", admin.id, activated,
                     error=f"{exc.code}: {exc.message}")
            raise
        finally:
            embedded.close()
    return activated.to_json()


def _sync_samples(svc: Services, recent: int = 50) -> list[dict[str, Any]]:
    """The contract samples plus the policy inputs of the latest recorded decisions."""
    with svc.state_engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log.c.entry)
                            .where(audit_log.c.kind == "decision")
                            .order_by(audit_log.c.seq.desc()).limit(recent * 4)).all()
    recorded = [e["policy_input"] for e in (parse_leaf(r.entry).entry for r in rows)
                if "policy_input" in e]
    return list(sample_inputs().values()) + recorded[:recent]


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
    candidate = pv.get_bundle(svc.state_engine, vid)
    summary = await run_in_threadpool(replay, svc.state_engine, candidate, last=body.last,
                                      since=body.since, examples=body.examples)
    return summary.to_json()


@router.post("/{version}/what-if")
def what_if_version(version: str, body: dict[str, Any], svc: ServicesDep,
                    _: AdminDep) -> dict[str, Any]:
    """Decide one input under VERSION and list the rules that fired."""
    vid = pv.resolve(svc.state_engine, version)
    return what_if(pv.get_bundle(svc.state_engine, vid), body)


@router.post("/rollback", name="rollback")
def rollback(request: Request, svc: ServicesDep, admin: AdminDep) -> dict[str, Any]:
    now_active, rolled_back = pv.rollback_audited(svc.state_engine, svc.recorder,
                                                  request_id(request), admin.id)
    return {"active": now_active.to_json(), "rolled_back": rolled_back.to_json()}
