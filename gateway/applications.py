"""Conditional-open applications (有条件开放申请): state machine and storage.

    submitted ─approve→ approved        returned ─resubmit→ submitted
    submitted ─reject─→ rejected        returned ─withdraw→ withdrawn
    submitted ─return─→ returned        submitted ─withdraw→ withdrawn

Approved, rejected and withdrawn are final. Every transition is an ``application_events``
row (who, when, from, to, note), written in the same transaction as the state change,
which is a compare-and-set on the current state so two reviewers cannot both decide.

Review is separated from applying: the reviewer is never the applicant nor from the
applicant's org (USCC). Approval may only narrow what was asked and creates one grant per
dataset in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway import agreements, state
from gateway.auth import Principal
from gateway.catalog import Catalog
from gateway.clock import as_utc as utc
from gateway.clock import now as _now
from gateway.clock import rfc3339
from gateway.errors import Conflict, Forbidden, NotFound, Unprocessable
from gateway.grants import FilterSpec, GrantSpec, Mode, create_grant

AppState = Literal["submitted", "approved", "rejected", "returned", "withdrawn"]
Action = Literal["submit", "approve", "reject", "return", "resubmit", "withdraw"]

TRANSITIONS: dict[tuple[AppState | None, Action], AppState] = {
    (None, "submit"): "submitted",
    ("submitted", "approve"): "approved",
    ("submitted", "reject"): "rejected",
    ("submitted", "return"): "returned",
    ("submitted", "withdraw"): "withdrawn",
    ("returned", "resubmit"): "submitted",
    ("returned", "withdraw"): "withdrawn",
}
STATES: tuple[AppState, ...] = ("submitted", "approved", "rejected", "returned", "withdrawn")

applications = sa.Table(
    "applications",
    state.metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("operator_id", sa.String(64), sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("org_uscc", sa.String(18), nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("purpose", sa.String(200), nullable=False),
    sa.Column("scenario", sa.String(200), nullable=False),
    sa.Column("period_from", sa.DateTime(timezone=True), nullable=False),
    sa.Column("period_to", sa.DateTime(timezone=True), nullable=False),
    sa.Column("security_measures", sa.Text, nullable=False),
    sa.Column("datasets", sa.JSON, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("reviewer_id", sa.String(64), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("approval", sa.JSON, nullable=True),
    sa.Column("grant_ids", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_applications_state", "state"),
    sa.Index("ix_applications_operator", "operator_id"),
)

events = sa.Table(
    "application_events",
    state.metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("application_id", sa.String(32), sa.ForeignKey("applications.id"),
              nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("from_state", sa.String(16), nullable=True),
    sa.Column("to_state", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
)


class DatasetRequest(BaseModel):
    """One dataset of an application, with the accepted data-use agreement."""

    model_config = ConfigDict(extra="forbid")

    dataset_id: str = Field(max_length=64)
    fields: list[str] = Field(min_length=1, max_length=500)
    modes: list[Mode] = Field(default_factory=lambda: list[Mode](["rows"]), min_length=1)
    agreement_id: str = Field(max_length=64)
    agreement_version: int = Field(ge=1)
    agreement_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")


class ApplicationIn(BaseModel):
    """Body of ``POST /v1/applications`` (and of a resubmission)."""

    model_config = ConfigDict(extra="forbid")

    datasets: list[DatasetRequest] = Field(min_length=1, max_length=20)
    purpose: str = Field(min_length=1, max_length=200)
    scenario: str = Field(min_length=1, max_length=200,
                          description="The named system or app the data is used in.")
    period_from: dt.datetime
    period_to: dt.datetime
    security_measures: str = Field(min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _check(self) -> "ApplicationIn":
        if self.period_from.tzinfo is None or self.period_to.tzinfo is None:
            raise ValueError("period_from/period_to need a timezone (RFC 3339)")
        if self.period_to <= self.period_from:
            raise ValueError("period_to must be after period_from")
        ids = [d.dataset_id for d in self.datasets]
        if len(set(ids)) != len(ids):
            raise ValueError("each dataset appears once")
        return self


class DatasetApproval(BaseModel):
    """How a reviewer narrows one dataset: a subset of fields, a row filter, quotas."""

    model_config = ConfigDict(extra="forbid")

    fields: list[str] | None = Field(None, min_length=1)
    row_filter: list[FilterSpec] = Field(default_factory=list, max_length=20)
    quota: dict[str, int] = {}


class ApprovalIn(BaseModel):
    """Body of ``POST /admin/v1/applications/{id}/approve``; anything left out is granted
    as requested. The period can only be shortened."""

    model_config = ConfigDict(extra="forbid")

    datasets: dict[str, DatasetApproval] = {}
    valid_from: dt.datetime | None = None
    valid_to: dt.datetime | None = None
    quota: dict[str, int] = {}
    note: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _check(self) -> "ApprovalIn":
        for ts in (self.valid_from, self.valid_to):
            if ts is not None and ts.tzinfo is None:
                raise ValueError("valid_from/valid_to need a timezone (RFC 3339)")
        quotas = [self.quota, *(d.quota for d in self.datasets.values())]
        if any(v < 0 for q in quotas for v in q.values()):
            raise ValueError("quotas are non-negative integers")
        return self


def next_state(current: AppState | None, action: Action) -> AppState:
    """The state ``action`` leads to from ``current``, or 409 ``illegal_transition``."""
    to = TRANSITIONS.get((current, action))
    if to is None:
        raise Conflict(f"cannot {action} an application that is {current or 'new'}",
                       code="illegal_transition")
    return to


def _check_request(conn: sa.Connection, catalog: Catalog, body: ApplicationIn) -> None:
    if body.period_to <= _now():
        raise Unprocessable("the requested period has already ended", code="invalid_period")
    for item in body.datasets:
        ds = catalog.get(item.dataset_id)
        if ds.open_class == "unconditional":
            raise Unprocessable(f"dataset {ds.id!r} is unconditionally open; no application "
                                "is needed", code="not_applicable")
        if ds.open_class == "not_open" and "rows" in item.modes:
            raise Unprocessable(f"dataset {ds.id!r} is not open: apply for aggregate or "
                                "verify, never rows", code="not_open_rows")
        unknown = sorted(set(item.fields) - set(ds.field_map()))
        if unknown:
            raise Unprocessable(f"dataset {ds.id!r} does not declare fields {unknown}",
                                code="unknown_field")
        agreements.check_acceptance(conn, ds.id, item.agreement_id, item.agreement_version,
                                    item.agreement_sha256)


def _stored(body: ApplicationIn) -> dict[str, Any]:
    return {"purpose": body.purpose, "scenario": body.scenario,
            "period_from": body.period_from.astimezone(dt.timezone.utc),
            "period_to": body.period_to.astimezone(dt.timezone.utc),
            "security_measures": body.security_measures,
            "datasets": [{**d.model_dump(), "fields": list(dict.fromkeys(d.fields)),
                          "modes": list(dict.fromkeys(d.modes)),
                          "agreement_sha256": d.agreement_sha256.lower()}
                         for d in body.datasets]}


def _accept(conn: sa.Connection, app_id: str, revision: int, who: str,
            body: ApplicationIn) -> None:
    for d in body.datasets:
        agreements.record_acceptance(conn, application_id=app_id, revision=revision,
                                     principal_id=who, dataset_id=d.dataset_id,
                                     agreement_id=d.agreement_id, version=d.agreement_version,
                                     sha256=d.agreement_sha256)


def record_event(conn: sa.Connection, app_id: str, actor: str, action: Action,
                 from_state: AppState | None, to_state: AppState, note: str = "") -> None:
    """Append one transition to the application's history."""
    conn.execute(sa.insert(events).values(application_id=app_id, at=_now(), actor_id=actor,
                                          action=action, from_state=from_state,
                                          to_state=to_state, note=note))


def transition(conn: sa.Connection, app_id: str, actor: str, action: Action,
               note: str = "", **values: Any) -> AppState:
    """Move the application by ``action`` (compare-and-set on its current state), record
    the event, and store ``values`` with it. Returns the new state."""
    row = conn.execute(sa.select(applications.c.state)
                       .where(applications.c.id == app_id)).first()
    if row is None:
        raise NotFound(f"no application {app_id!r}", code="unknown_application")
    current: AppState = row.state
    to = next_state(current, action)
    res = conn.execute(sa.update(applications)
                       .where(applications.c.id == app_id, applications.c.state == current)
                       .values(state=to, updated_at=_now(), **values))
    if res.rowcount != 1:  # someone else moved it first
        raise Conflict(f"application {app_id!r} changed concurrently; reload it",
                       code="illegal_transition")
    record_event(conn, app_id, actor, action, current, to, note)
    return to


def submit(engine: sa.Engine, catalog: Catalog, applicant: Principal,
           body: ApplicationIn) -> str:
    """Store a new application (state ``submitted``) with its agreement acceptances."""
    app_id = f"app-{secrets.token_hex(6)}"
    now = _now()
    with engine.begin() as conn:
        _check_request(conn, catalog, body)
        conn.execute(sa.insert(applications).values(
            id=app_id, operator_id=applicant.id, org_uscc=applicant.org_uscc,
            state=next_state(None, "submit"), revision=1, grant_ids=[], created_at=now,
            updated_at=now, **_stored(body)))
        record_event(conn, app_id, applicant.id, "submit", None, "submitted")
        _accept(conn, app_id, 1, applicant.id, body)
    return app_id


def _own(conn: sa.Connection, app_id: str, applicant: Principal) -> Any:
    row = conn.execute(sa.select(applications).where(applications.c.id == app_id)).first()
    if row is None or row.operator_id != applicant.id:
        raise NotFound(f"no application {app_id!r}", code="unknown_application")
    return row


def resubmit(engine: sa.Engine, catalog: Catalog, applicant: Principal, app_id: str,
             body: ApplicationIn) -> None:
    """Edit a returned application and submit it again (agreements accepted again)."""
    with engine.begin() as conn:
        row = _own(conn, app_id, applicant)
        next_state(row.state, "resubmit")  # refuse before validating the new content
        _check_request(conn, catalog, body)
        transition(conn, app_id, applicant.id, "resubmit", revision=row.revision + 1,
                   **_stored(body))
        _accept(conn, app_id, row.revision + 1, applicant.id, body)


def withdraw(engine: sa.Engine, applicant: Principal, app_id: str, note: str = "") -> None:
    """The applicant withdraws a submitted or returned application."""
    with engine.begin() as conn:
        _own(conn, app_id, applicant)
        transition(conn, app_id, applicant.id, "withdraw", note)


def _document(row: Any) -> dict[str, Any]:
    return {"id": row.id, "operator_id": row.operator_id, "org_uscc": row.org_uscc,
            "state": row.state, "purpose": row.purpose, "scenario": row.scenario,
            "period_from": rfc3339(row.period_from), "period_to": rfc3339(row.period_to),
            "security_measures": row.security_measures, "datasets": list(row.datasets),
            "revision": row.revision, "reviewer_id": row.reviewer_id, "reason": row.reason,
            "approval": row.approval, "grant_ids": list(row.grant_ids),
            "created_at": rfc3339(row.created_at), "updated_at": rfc3339(row.updated_at)}


def get_application(engine: sa.Engine, app_id: str, *,
                    operator_id: str | None = None) -> dict[str, Any]:
    """One application with its history; with ``operator_id`` only that operator's own
    (another's is reported as not found)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(applications)
                           .where(applications.c.id == app_id)).first()
        if row is None or (operator_id is not None and row.operator_id != operator_id):
            raise NotFound(f"no application {app_id!r}", code="unknown_application")
        history = conn.execute(sa.select(events).where(events.c.application_id == app_id)
                               .order_by(events.c.id)).all()
    doc = _document(row)
    doc["events"] = [{"at": rfc3339(e.at), "actor_id": e.actor_id, "action": e.action,
                      "from": e.from_state, "to": e.to_state, "note": e.note}
                     for e in history]
    doc["acceptances"] = agreements.acceptances_of(engine, app_id)
    return doc


def review_view(doc: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    """What a reviewer weighs: each requested field's sensitivity and PII type, and the
    dataset's open class and registration (the API and the console show the same)."""
    for item in doc["datasets"]:
        ds = catalog.get(item["dataset_id"])
        declared = ds.field_map()
        item["dataset"] = {"title": ds.title, "owner": ds.owner, "open_class": ds.open_class,
                           "registration_code": ds.registration_code}
        item["field_details"] = [
            {"name": n, "title": declared[n].title, "level": declared[n].level,
             "pii": declared[n].pii, "quasi_identifier": declared[n].quasi_identifier,
             "free_text": declared[n].free_text}
            for n in item["fields"] if n in declared]
    return doc


def list_applications(engine: sa.Engine, *, operator_id: str | None = None,
                      state: AppState | None = None) -> list[dict[str, Any]]:
    """Applications, oldest first, by operator and/or state."""
    q = sa.select(applications).order_by(applications.c.created_at, applications.c.id)
    if operator_id is not None:
        q = q.where(applications.c.operator_id == operator_id)
    if state is not None:
        q = q.where(applications.c.state == state)
    with engine.connect() as conn:
        return [_document(r) for r in conn.execute(q)]


def _check_reviewer(row: Any, reviewer: Principal) -> None:
    if reviewer.id == row.operator_id:
        raise Forbidden("a reviewer cannot decide their own application", code="own_application")
    if reviewer.org_uscc is None:
        raise Forbidden("reviewer has no org USCC, so separation from the applicant cannot "
                        "be checked", code="reviewer_org_unknown")
    if reviewer.org_uscc == row.org_uscc:
        raise Forbidden("a reviewer cannot decide an application from their own org",
                        code="same_org_review")


def _for_review(conn: sa.Connection, app_id: str, reviewer: Principal) -> Any:
    row = conn.execute(sa.select(applications).where(applications.c.id == app_id)).first()
    if row is None:
        raise NotFound(f"no application {app_id!r}", code="unknown_application")
    _check_reviewer(row, reviewer)
    return row


def _grant_specs(row: Any, body: ApprovalIn) -> list[GrantSpec]:
    requested = {d["dataset_id"]: d for d in row.datasets}
    extra = sorted(set(body.datasets) - set(requested))
    if extra:
        raise Unprocessable(f"datasets {extra} were not requested", code="dataset_not_requested")
    start, end = utc(row.period_from), utc(row.period_to)
    valid_from, valid_to = body.valid_from or start, body.valid_to or end
    if valid_from < start or valid_to > end:
        raise Unprocessable("the approved period must lie within the requested period "
                            "(it may be shortened, never extended)", code="period_extended")
    if valid_to <= valid_from:
        raise Unprocessable("valid_to must be after valid_from", code="invalid_period")
    specs = []
    for ds_id, req in requested.items():
        narrow = body.datasets.get(ds_id, DatasetApproval())
        fields = narrow.fields or req["fields"]
        wider = sorted(set(fields) - set(req["fields"]))
        if wider:
            raise Unprocessable(f"{ds_id}: fields {wider} were not requested; approval may "
                                "only narrow", code="field_not_requested")
        specs.append(GrantSpec(
            operator_id=row.operator_id, dataset_id=ds_id, kind="application",
            status="active", fields=list(dict.fromkeys(fields)), purposes=[row.purpose],
            modes=req["modes"], row_filter=narrow.row_filter,
            quota={**body.quota, **narrow.quota}, valid_from=valid_from, valid_to=valid_to,
            source=f"application:{row.id}"))
    return specs


def approve(engine: sa.Engine, catalog: Catalog, reviewer: Principal, app_id: str,
            body: ApprovalIn) -> list[str]:
    """Approve (possibly narrowed) and create one active grant per dataset, all in one
    transaction (a bad row filter or field rolls everything back); returns the grant ids."""
    with engine.begin() as conn:
        row = _for_review(conn, app_id, reviewer)
        next_state(row.state, "approve")
        specs = _grant_specs(row, body)
        ids = [create_grant(engine, s, catalog.get(s.dataset_id), conn=conn) for s in specs]
        approval = {"datasets": {s.dataset_id: {"fields": s.fields, "modes": list(s.modes),
                                                "row_filter": [f.model_dump()
                                                               for f in s.row_filter],
                                                "quota": s.quota} for s in specs},
                    "valid_from": rfc3339(specs[0].valid_from),
                    "valid_to": rfc3339(specs[0].valid_to)}
        transition(conn, app_id, reviewer.id, "approve", body.note, reviewer_id=reviewer.id,
                   approval=approval, grant_ids=ids, reason=None)
    return ids


def decide_without_grant(engine: sa.Engine, reviewer: Principal, app_id: str,
                         action: Literal["reject", "return"], reason: str) -> None:
    """Reject with a reason, or return the application to the applicant for changes."""
    if not reason.strip():
        raise Unprocessable(f"{action} needs a reason", code="reason_required")
    with engine.begin() as conn:
        _for_review(conn, app_id, reviewer)
        transition(conn, app_id, reviewer.id, action, reason, reviewer_id=reviewer.id,
                   reason=reason)
