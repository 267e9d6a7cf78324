"""Grants: an approved application or a license, the subject the policy decides on."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway import state
from gateway.catalog import DatasetSpec
from gateway.clock import now as _now
from gateway.clock import rfc3339 as _rfc3339
from gateway.errors import Conflict, NotFound, Unprocessable
from gateway.policy.decision import KNOWN_OPERATORS

GrantStatus = Literal["active", "suspended", "revoked", "expired"]
Mode = Literal["rows", "aggregate", "verify"]


class FilterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    op: str
    value: Any = None


class OperatorOverride(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    operator: str
    params: dict[str, Any] = {}


class GrantSpec(BaseModel):
    """What an admin (later: an approved application or a license) grants."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    operator_id: str
    dataset_id: str
    kind: Literal["application", "license"] = "application"
    status: GrantStatus = "active"
    fields: list[str] = Field(min_length=1)
    purposes: list[str] = Field(min_length=1)
    modes: list[Mode] = ["rows"]
    row_filter: list[FilterSpec] = []
    operators: dict[str, OperatorOverride] = {}
    quota: dict[str, int | float] = {}
    fee_mode: Literal["free", "paid"] = "free"
    valid_from: dt.datetime
    valid_to: dt.datetime
    source: str | None = Field(None, max_length=80,
                               description="application:<id> or license:<id>")

    @model_validator(mode="after")
    def _check(self) -> "GrantSpec":
        for ts in (self.valid_from, self.valid_to):
            if ts.tzinfo is None:
                raise ValueError("valid_from/valid_to need a timezone (RFC 3339)")
        if self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        for name, ov in self.operators.items():
            if ov.operator not in KNOWN_OPERATORS:
                raise ValueError(f"unknown operator {ov.operator!r} for field {name!r}")
        return self


def create_grant(engine: sa.Engine, spec: GrantSpec, dataset: DatasetSpec, *,
                 conn: sa.Connection | None = None) -> str:
    """Store a grant after checking it against the dataset's declared fields. With ``conn``
    the insert joins the caller's transaction (an approval creating several grants)."""
    declared = dataset.field_map()
    unknown = [f for f in spec.fields if f not in declared]
    unknown += [f.field for f in spec.row_filter if f.field not in declared]
    unknown += [f for f in spec.operators if f not in declared]
    if unknown:
        raise Unprocessable(f"grant names undeclared fields: {sorted(set(unknown))}",
                            code="unknown_field")
    # Row filters are compiled with the same validation as operator filters.
    from gateway.plan import validate_filters

    validate_filters([f.model_dump() for f in spec.row_filter], dataset, source="row_filter")
    grant_id = spec.id or f"g-{secrets.token_hex(6)}"
    now = _now()
    insert = sa.insert(state.grants).values(
        id=grant_id, operator_id=spec.operator_id, dataset_id=spec.dataset_id,
        kind=spec.kind, status=spec.status, fields=list(spec.fields),
        purposes=list(spec.purposes), modes=list(spec.modes),
        row_filter=[f.model_dump() for f in spec.row_filter],
        operators={k: v.model_dump() for k, v in spec.operators.items()},
        quota=dict(spec.quota), fee_mode=spec.fee_mode,
        # Stored as UTC: SQLite keeps the wall-clock time and drops the offset.
        valid_from=spec.valid_from.astimezone(dt.timezone.utc),
        valid_to=spec.valid_to.astimezone(dt.timezone.utc),
        created_at=now, updated_at=now, source=spec.source)
    if conn is not None:
        conn.execute(insert)
    else:
        with engine.begin() as own:
            own.execute(insert)
    return grant_id


def set_status(engine: sa.Engine, grant_id: str, status: GrantStatus) -> None:
    """Set one grant's status. Revocation is final, and a license's grants change only
    through the license (gateway.licenses) so that license and grants never disagree."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(state.grants.c.status, state.grants.c.source)
                           .where(state.grants.c.id == grant_id)).first()
        if row is None:
            raise NotFound(f"no grant {grant_id!r}", code="unknown_grant")
        if (row.source or "").startswith("license:"):
            raise Conflict(f"grant {grant_id!r} belongs to {row.source}; change the license",
                           code="managed_by_license")
        if row.status == "revoked" and status != "revoked":
            raise Conflict(f"grant {grant_id!r} is revoked; revocation is final",
                           code="illegal_transition")
        conn.execute(sa.update(state.grants).where(state.grants.c.id == grant_id)
                     .values(status=status, updated_at=_now()))


def grant_document(row: Any) -> dict[str, Any]:
    """The grant as the policy sees it (DESIGN.md input contract)."""
    return {
        "id": row.id, "kind": row.kind, "status": row.status, "fields": list(row.fields),
        "purposes": list(row.purposes), "modes": list(row.modes),
        "row_filter": list(row.row_filter), "valid_from": _rfc3339(row.valid_from),
        "valid_to": _rfc3339(row.valid_to), "quota": dict(row.quota),
        "fee_mode": row.fee_mode, "operators": dict(row.operators),
        "operator_id": row.operator_id, "dataset_id": row.dataset_id,
        "source": row.source,
    }


def find_grant(engine: sa.Engine, operator_id: str, dataset_id: str,
               grant_id: str | None = None) -> dict[str, Any] | None:
    """The one grant the policy decides on: the named one, else the operator's newest
    active grant for the dataset, else its newest grant of any status (so the policy can
    say it is suspended or expired). Read fresh on every request: no cache."""
    q = sa.select(state.grants).where(state.grants.c.operator_id == operator_id,
                                      state.grants.c.dataset_id == dataset_id)
    if grant_id is not None:
        q = q.where(state.grants.c.id == grant_id)
    with engine.connect() as conn:
        rows = conn.execute(q.order_by(state.grants.c.created_at.desc())).all()
    if not rows:
        return None
    active = [r for r in rows if r.status == "active"]
    return grant_document(active[0] if active else rows[0])


def list_grants(engine: sa.Engine, operator_id: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(state.grants).order_by(state.grants.c.created_at)
    if operator_id is not None:
        q = q.where(state.grants.c.operator_id == operator_id)
    with engine.connect() as conn:
        return [grant_document(r) for r in conn.execute(q)]
