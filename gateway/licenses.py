"""Authorized-operation licenses (授权运营): issue, suspend, resume, revoke, expire.

A license gives one operator org (valid USCC) fields of registered datasets, permitted
modes, purposes and scenarios, a term, a fee mode (free public-welfare, or paid under a
price cap per unit), a security responsibility and a destruction deadline. Issuing it
creates one grant per dataset (kind ``license``, source ``license:<id>``); every status
change moves the license and all its grants in one transaction, and the gateway reads
grants fresh on every request, so the next request sees it. Revoked and expired are final.
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway import state
from gateway.auth import Principal
from gateway.catalog import Catalog
from gateway.clock import as_utc as utc
from gateway.clock import now as _now
from gateway.clock import rfc3339
from gateway.errors import Conflict, NotFound, Unprocessable
from gateway.grants import GrantSpec, Mode, create_grant

LicenseStatus = Literal["active", "suspended", "revoked", "expired"]
LicenseAction = Literal["suspend", "resume", "revoke", "expire"]
Unit = Literal["call", "row", "month"]
MICROS = Decimal(1_000_000)

TRANSITIONS: dict[tuple[LicenseStatus, LicenseAction], LicenseStatus] = {
    ("active", "suspend"): "suspended",
    ("suspended", "resume"): "active",
    ("active", "revoke"): "revoked",
    ("suspended", "revoke"): "revoked",
    ("active", "expire"): "expired",
    ("suspended", "expire"): "expired",
}

licenses = sa.Table(
    "licenses",
    state.metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("operator_id", sa.String(64), sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("org_name", sa.String(200), nullable=False),
    sa.Column("org_uscc", sa.String(18), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("datasets", sa.JSON, nullable=False),
    sa.Column("modes", sa.JSON, nullable=False),
    sa.Column("purposes", sa.JSON, nullable=False),
    sa.Column("scenarios", sa.JSON, nullable=False),
    sa.Column("products", sa.JSON, nullable=False),
    sa.Column("term_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("term_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("fee_mode", sa.String(8), nullable=False),
    sa.Column("unit", sa.String(16), nullable=True),
    # Money in micro-yuan (integers): exact sums on every database, no float rounding.
    sa.Column("price_cap_micros", sa.BigInteger, nullable=True),
    sa.Column("price_micros", sa.BigInteger, nullable=True),
    sa.Column("quota", sa.JSON, nullable=False),
    sa.Column("security_responsibility", sa.Text, nullable=False),
    sa.Column("destruction_days", sa.Integer, nullable=False),
    sa.Column("grant_ids", sa.JSON, nullable=False),
    sa.Column("issued_by", sa.String(64), nullable=False),
    sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

license_events = sa.Table(
    "license_events",
    state.metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("license_id", sa.String(32), sa.ForeignKey("licenses.id"), nullable=False,
              index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("from_status", sa.String(16), nullable=True),
    sa.Column("to_status", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
)


class LicenseDataset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_id: str = Field(max_length=64)
    fields: list[str] = Field(min_length=1, max_length=500)



class LicenseIn(BaseModel):
    """Body of ``POST /admin/v1/licenses``. Prices are yuan per ``unit``."""

    model_config = ConfigDict(extra="forbid")

    operator_id: str = Field(max_length=64)
    datasets: list[LicenseDataset] = Field(min_length=1, max_length=50)
    modes: list[Mode] = Field(min_length=1)
    purposes: list[str] = Field(min_length=1, max_length=50)
    scenarios: list[str] = Field(min_length=1, max_length=50)
    products: list[str] = Field(default_factory=list, max_length=50)
    term_start: dt.datetime
    term_end: dt.datetime
    fee_mode: Literal["free", "paid"]
    unit: Unit | None = None
    price_cap: Decimal | None = Field(None, ge=0, max_digits=18, decimal_places=6)
    price: Decimal | None = Field(None, ge=0, max_digits=18, decimal_places=6)
    quota: dict[str, int | float] = {}
    security_responsibility: str = Field(min_length=1, max_length=10_000)
    destruction_days: int = Field(ge=0, le=3650,
                                  description="Days after termination to destroy the data.")

    @model_validator(mode="after")
    def _check(self) -> "LicenseIn":
        if self.term_start.tzinfo is None or self.term_end.tzinfo is None:
            raise ValueError("term_start/term_end need a timezone (RFC 3339)")
        if self.term_end <= self.term_start:
            raise ValueError("term_end must be after term_start")
        ids = [d.dataset_id for d in self.datasets]
        if len(set(ids)) != len(ids):
            raise ValueError("each dataset appears once")
        if self.fee_mode == "paid":
            if self.unit is None or self.price_cap is None:
                raise ValueError("a paid license needs a unit and a price_cap")
            if self.price is not None and self.price > self.price_cap:
                raise ValueError("price is above price_cap")
        elif self.unit is not None or self.price_cap is not None or self.price is not None:
            raise ValueError("a free (public-welfare) license has no unit or price")
        return self


def to_micros(amount: Decimal) -> int:
    """Yuan as integer micro-yuan; more than six decimal places is refused."""
    micros = amount * MICROS
    if micros != micros.to_integral_value():
        raise Unprocessable("amounts have at most six decimal places", code="invalid_price")
    return int(micros)


def from_micros(micros: int | None) -> str | None:
    """Micro-yuan as a plain decimal string of yuan (``"0.05"``)."""
    if micros is None:
        return None
    text = format(Decimal(micros) / MICROS, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _operator_org(conn: sa.Connection, operator_id: str) -> Any:
    from anonymizers.identifiers import uscc_valid

    row = conn.execute(sa.select(state.principals)
                       .where(state.principals.c.id == operator_id)).first()
    if row is None:
        raise Unprocessable(f"no principal {operator_id!r}", code="unknown_principal")
    if "operator" not in row.roles:
        raise Unprocessable(f"principal {operator_id!r} is not an operator", code="invalid_role")
    if not row.org_uscc or not uscc_valid(row.org_uscc):
        raise Unprocessable(f"operator {operator_id!r} has no valid USCC (GB 32100)",
                            code="invalid_uscc")
    return row


def issue(engine: sa.Engine, catalog: Catalog, admin: Principal, body: LicenseIn) -> str:
    """Issue a license and its grants (one per dataset) in one transaction."""
    lic_id = f"lic-{secrets.token_hex(6)}"
    now = _now()
    datasets: list[dict[str, Any]] = []
    for item in body.datasets:
        ds = catalog.get(item.dataset_id)
        if not ds.registration_code:
            raise Unprocessable(f"dataset {ds.id!r} has no registration code; register the "
                                "data resource before licensing it", code="unregistered_dataset")
        if ds.open_class == "not_open" and "rows" in body.modes:
            raise Unprocessable(f"dataset {ds.id!r} is not open: license aggregate or verify, "
                                "never rows", code="not_open_rows")
        datasets.append({"dataset_id": ds.id, "fields": list(dict.fromkeys(item.fields)),
                         "registration_code": ds.registration_code, "title": ds.title})
    cap = to_micros(body.price_cap) if body.price_cap is not None else None
    price = to_micros(body.price) if body.price is not None else cap
    with engine.begin() as conn:
        org = _operator_org(conn, body.operator_id)
        grant_ids = [create_grant(engine, GrantSpec(
            operator_id=body.operator_id, dataset_id=d["dataset_id"], kind="license",
            status="active", fields=d["fields"], purposes=list(body.purposes),
            modes=list(dict.fromkeys(body.modes)), quota=dict(body.quota),
            fee_mode=body.fee_mode, valid_from=body.term_start, valid_to=body.term_end,
            source=f"license:{lic_id}"), catalog.get(d["dataset_id"]), conn=conn)
            for d in datasets]
        conn.execute(sa.insert(licenses).values(
            id=lic_id, operator_id=org.id, org_name=org.name, org_uscc=org.org_uscc,
            status="active", datasets=datasets, modes=list(dict.fromkeys(body.modes)),
            purposes=list(body.purposes), scenarios=list(body.scenarios),
            products=list(body.products),
            term_start=body.term_start.astimezone(dt.timezone.utc),
            term_end=body.term_end.astimezone(dt.timezone.utc),
            fee_mode=body.fee_mode, unit=body.unit, price_cap_micros=cap, price_micros=price,
            quota=dict(body.quota), security_responsibility=body.security_responsibility,
            destruction_days=body.destruction_days, grant_ids=grant_ids, issued_by=admin.id,
            created_at=now, updated_at=now))
        conn.execute(sa.insert(license_events).values(
            license_id=lic_id, at=now, actor_id=admin.id, action="issue", from_status=None,
            to_status="active", note=""))
    return lic_id


def change_status(engine: sa.Engine, actor: Principal, license_id: str,
                  action: LicenseAction, note: str = "") -> LicenseStatus:
    """Suspend, resume, revoke or expire the license and every one of its grants; 409
    ``illegal_transition`` otherwise (revoked and expired are final)."""
    now = _now()
    with engine.begin() as conn:
        row = conn.execute(sa.select(licenses.c.status)
                           .where(licenses.c.id == license_id)).first()
        if row is None:
            raise NotFound(f"no license {license_id!r}", code="unknown_license")
        to = TRANSITIONS.get((row.status, action))
        if to is None:
            raise Conflict(f"cannot {action} a license that is {row.status}",
                           code="illegal_transition")
        values: dict[str, Any] = {"status": to, "updated_at": now}
        if to in ("revoked", "expired"):
            values["terminated_at"] = now
        res = conn.execute(sa.update(licenses).where(licenses.c.id == license_id,
                                                     licenses.c.status == row.status)
                           .values(**values))
        if res.rowcount != 1:
            raise Conflict(f"license {license_id!r} changed concurrently; reload it",
                           code="illegal_transition")
        conn.execute(sa.update(state.grants)
                     .where(state.grants.c.source == f"license:{license_id}")
                     .values(status=to, updated_at=now))
        conn.execute(sa.insert(license_events).values(
            license_id=license_id, at=now, actor_id=actor.id, action=action,
            from_status=row.status, to_status=to, note=note))
    return to


def document(row: Any) -> dict[str, Any]:
    """A license as the API shows it."""
    due = None
    if row.terminated_at is not None:
        due = rfc3339(utc(row.terminated_at) + dt.timedelta(days=row.destruction_days))
    return {
        "id": row.id, "operator_id": row.operator_id, "org_name": row.org_name,
        "org_uscc": row.org_uscc, "status": row.status, "datasets": list(row.datasets),
        "modes": list(row.modes), "purposes": list(row.purposes),
        "scenarios": list(row.scenarios), "products": list(row.products),
        "term_start": rfc3339(row.term_start), "term_end": rfc3339(row.term_end),
        "fee_mode": row.fee_mode, "unit": row.unit,
        "price_cap": from_micros(row.price_cap_micros), "price": from_micros(row.price_micros),
        "quota": dict(row.quota), "security_responsibility": row.security_responsibility,
        "destruction_days": row.destruction_days, "grant_ids": list(row.grant_ids),
        "issued_by": row.issued_by,
        "terminated_at": rfc3339(row.terminated_at) if row.terminated_at else None,
        "destruction_due": due,
    }


def get_license(engine: sa.Engine, license_id: str, *,
                operator_id: str | None = None) -> dict[str, Any]:
    """One license with its history (only the operator's own when ``operator_id``)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(licenses).where(licenses.c.id == license_id)).first()
        if row is None or (operator_id is not None and row.operator_id != operator_id):
            raise NotFound(f"no license {license_id!r}", code="unknown_license")
        history = conn.execute(sa.select(license_events)
                               .where(license_events.c.license_id == license_id)
                               .order_by(license_events.c.id)).all()
    doc = document(row)
    doc["events"] = [{"at": rfc3339(e.at), "actor_id": e.actor_id, "action": e.action,
                      "from": e.from_status, "to": e.to_status, "note": e.note}
                     for e in history]
    return doc


def list_licenses(engine: sa.Engine, *, operator_id: str | None = None,
                  status: LicenseStatus | None = None) -> list[dict[str, Any]]:
    """Licenses, oldest first."""
    q = sa.select(licenses).order_by(licenses.c.created_at, licenses.c.id)
    if operator_id is not None:
        q = q.where(licenses.c.operator_id == operator_id)
    if status is not None:
        q = q.where(licenses.c.status == status)
    with engine.connect() as conn:
        return [document(r) for r in conn.execute(q)]
