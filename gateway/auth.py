"""Principals and API keys. Keys are stored only as SHA-256 of their random secret."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from gateway import state
from gateway.clock import as_utc
from gateway.clock import now as _now
from gateway.errors import Conflict, NotFound, Unauthenticated, Unprocessable

ROLES = frozenset({"operator", "admin", "reviewer", "auditor"})
_KEY_RE = re.compile(r"pgw_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a principal id, its org, the role the key carries, the key id."""

    id: str
    name: str
    org_uscc: str | None
    roles: tuple[str, ...]
    key_id: str

    def has_role(self, role: str) -> bool:
        return role in self.roles


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_principal(engine: sa.Engine, principal_id: str, name: str, *,
                     roles: list[str], org_uscc: str | None = None) -> None:
    """Register an operator org or a staff principal."""
    from anonymizers.identifiers import uscc_valid

    if not _ID_RE.fullmatch(principal_id):
        raise Unprocessable("principal id must match [A-Za-z0-9][A-Za-z0-9_.-]*",
                            code="invalid_principal")
    bad = set(roles) - ROLES
    if bad or not roles:
        raise Unprocessable(f"unknown roles {sorted(bad)}; one of {sorted(ROLES)}",
                            code="invalid_role")
    if org_uscc is not None and not uscc_valid(org_uscc):
        raise Unprocessable("org_uscc fails the GB 32100 check", code="invalid_uscc")
    with engine.begin() as conn:
        if conn.execute(sa.select(state.principals.c.id)
                        .where(state.principals.c.id == principal_id)).first():
            raise Conflict(f"principal {principal_id!r} exists", code="principal_exists")
        conn.execute(sa.insert(state.principals).values(
            id=principal_id, name=name, org_uscc=org_uscc, roles=sorted(set(roles)),
            status="active", created_at=_now()))


def create_api_key(engine: sa.Engine, principal_id: str, role: str) -> tuple[str, str]:
    """Issue a key for one of the principal's roles; returns (key_id, token). The token is
    shown once and never stored."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(state.principals)
                           .where(state.principals.c.id == principal_id)).first()
        if row is None:
            raise NotFound(f"no principal {principal_id!r}", code="unknown_principal")
        if role not in row.roles:
            raise Unprocessable(f"principal {principal_id!r} does not hold role {role!r}",
                                code="invalid_role")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        conn.execute(sa.insert(state.api_keys).values(
            id=key_id, principal_id=principal_id, role=role, secret_hash=_hash(secret),
            created_at=_now()))
    return key_id, f"pgw_{key_id}_{secret}"


def revoke_api_key(engine: sa.Engine, key_id: str) -> None:
    with engine.begin() as conn:
        res = conn.execute(sa.update(state.api_keys).where(state.api_keys.c.id == key_id)
                           .values(revoked_at=_now()))
        if res.rowcount == 0:
            raise NotFound(f"no API key {key_id!r}", code="unknown_key")


def set_roles(engine: sa.Engine, principal_id: str, roles: list[str], *,
              within: Collection[str] | None = None) -> list[str]:
    """Replace a principal's roles — only those in ``within`` when given (the others it
    holds are kept), read and written in one transaction. API keys issued for a role it no
    longer holds are revoked in the same transaction (a key carries one role). Returns
    their ids."""
    allowed = ROLES if within is None else ROLES & set(within)
    bad = set(roles) - allowed
    if bad:
        raise Unprocessable(f"roles {sorted(bad)} are not among {sorted(allowed)}",
                            code="invalid_role")
    p = state.principals.c
    with engine.begin() as conn:
        row = conn.execute(sa.select(p.roles).where(p.id == principal_id)
                           .with_for_update()).first()
        if row is None:
            raise NotFound(f"no principal {principal_id!r}", code="unknown_principal")
        kept = [r for r in row.roles if within is not None and r not in within]
        new = sorted(set(roles) | set(kept))
        if not new:
            raise Unprocessable("a principal needs at least one role", code="invalid_role")
        conn.execute(sa.update(state.principals).where(p.id == principal_id)
                     .values(roles=new))
        k = state.api_keys.c
        stale = [r.id for r in conn.execute(sa.select(k.id).where(
            k.principal_id == principal_id, k.revoked_at.is_(None), k.role.not_in(new)))]
        if stale:
            conn.execute(sa.update(state.api_keys).where(k.id.in_(stale))
                         .values(revoked_at=_now()))
    return stale


def set_status(engine: sa.Engine, principal_id: str, status: str) -> None:
    """``active`` or ``disabled``: a disabled principal's keys, signed requests and
    console sessions are refused from its next request on."""
    if status not in ("active", "disabled"):
        raise Unprocessable("status is active or disabled", code="invalid_status")
    with engine.begin() as conn:
        done = conn.execute(sa.update(state.principals)
                            .where(state.principals.c.id == principal_id)
                            .values(status=status)).rowcount
    if not done:
        raise NotFound(f"no principal {principal_id!r}", code="unknown_principal")


def list_principals(engine: sa.Engine) -> list[dict[str, Any]]:
    """Every principal (operator orgs and staff), by id."""
    p = state.principals.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(p.id, p.name, p.org_uscc, p.roles, p.status,
                                      p.created_at).order_by(p.id)).all()
    return [{"id": r.id, "name": r.name, "org_uscc": r.org_uscc, "roles": list(r.roles),
             "status": r.status, "created_at": as_utc(r.created_at)} for r in rows]


def list_api_keys(engine: sa.Engine, principal_id: str | None = None) -> list[dict[str, Any]]:
    """API keys (one principal's, or all), oldest first: ids and dates, never a secret or
    its hash."""
    k = state.api_keys.c
    q = sa.select(k.id, k.principal_id, k.role, k.created_at, k.revoked_at)
    if principal_id is not None:
        q = q.where(k.principal_id == principal_id)
    with engine.connect() as conn:
        rows = conn.execute(q.order_by(k.created_at, k.id)).all()
    return [{"id": r.id, "principal_id": r.principal_id, "role": r.role,
             "created_at": as_utc(r.created_at),
             "revoked_at": as_utc(r.revoked_at) if r.revoked_at is not None else None}
            for r in rows]


def authenticate(engine: sa.Engine, authorization: str | None) -> Principal:
    """Resolve ``Authorization: Bearer pgw_...`` to a principal, or raise 401."""
    if not authorization:
        raise Unauthenticated("missing Authorization header", code="missing_credentials")
    scheme, _, token = authorization.partition(" ")
    m = _KEY_RE.fullmatch(token.strip()) if scheme.lower() == "bearer" else None
    if m is None:
        raise Unauthenticated("expected 'Authorization: Bearer pgw_<id>_<secret>'",
                              code="bad_credentials")
    key_id, secret = m.group(1), m.group(2)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(state.api_keys, state.principals.c.name, state.principals.c.org_uscc,
                      state.principals.c.status)
            .join(state.principals, state.principals.c.id == state.api_keys.c.principal_id)
            .where(state.api_keys.c.id == key_id)).first()
    # Compare even when the key is unknown so timing does not reveal which ids exist.
    expected = row.secret_hash if row is not None else "0" * 64
    ok = hmac.compare_digest(expected, _hash(secret))
    if row is None or not ok:
        raise Unauthenticated("invalid API key", code="bad_credentials")
    if row.revoked_at is not None or row.status != "active":
        raise Unauthenticated("API key revoked or principal disabled", code="key_revoked")
    return Principal(id=row.principal_id, name=row.name, org_uscc=row.org_uscc,
                     roles=(row.role,), key_id=key_id)
