"""Console accounts and server-side sessions.

A console account is a password credential on an existing staff principal (admin,
reviewer or auditor; ``gateway.auth``): the console acts as that principal, with every
role it holds, through the same service functions as the API.

* Passwords: Argon2id (``argon2-cffi``, RFC 9106 low-memory profile), re-hashed on sign-in
  when the parameters change. An unknown user name costs one hash too, so timing does not
  tell which names exist.
* Lockout: ``LOCK_AFTER`` failures in a row lock the account for ``LOCK_SECONDS``; each
  client address gets at most ``RATE_PER_WINDOW`` failed sign-ins per ``RATE_WINDOW_S``
  whatever the account (rate limit across accounts).
* Sessions: a random 256-bit token in an HttpOnly, SameSite=Strict cookie; the database
  keeps only its SHA-256, with the CSRF token, the idle deadline and the absolute expiry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gateway import state
from gateway.auth import Principal
from gateway.clock import as_utc
from gateway.clock import now as _now
from gateway.errors import NotFound, Unauthenticated, Unprocessable

STAFF_ROLES = ("admin", "reviewer", "auditor")
LOCK_AFTER = 5
LOCK_SECONDS = 15 * 60
RATE_WINDOW_S = 5 * 60
RATE_PER_WINDOW = 20
MIN_PASSWORD = 12

console_accounts = sa.Table(
    "console_accounts",
    state.metadata,
    sa.Column("principal_id", sa.String(64), sa.ForeignKey("principals.id"), primary_key=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("failed_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_sign_in", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

console_sessions = sa.Table(
    "console_sessions",
    state.metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("principal_id", sa.String(64), sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_console_sessions_principal", "principal_id"),
)

console_sign_in_failures = sa.Table(
    "console_sign_in_failures",
    state.metadata,
    # Keyed hash of the client address (never the address in clear) and a fixed window.
    sa.Column("client", sa.String(64), primary_key=True),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
)

_hasher = PasswordHasher()  # Argon2id, argon2-cffi's RFC 9106 low-memory defaults
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in console user: the principal it acts as and the session's CSRF token."""

    principal: Principal
    csrf_token: str
    token_hash: str
    expires_at: dt.datetime

    def has_role(self, role: str) -> bool:
        return self.principal.has_role(role)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Unprocessable(f"password must have at least {MIN_PASSWORD} characters",
                            code="weak_password")
    if len(password) > 1024:
        raise Unprocessable("password is too long", code="weak_password")


def set_password(engine: sa.Engine, principal_id: str, password: str) -> None:
    """Create or replace the console credential of a staff principal (clears lockout)."""
    check_password_strength(password)
    with engine.begin() as conn:
        row = conn.execute(sa.select(state.principals.c.roles)
                           .where(state.principals.c.id == principal_id)).first()
        if row is None:
            raise NotFound(f"no principal {principal_id!r}", code="unknown_principal")
        if not set(row.roles) & set(STAFF_ROLES):
            raise Unprocessable("console accounts are for admin, reviewer and auditor "
                                "principals", code="not_staff")
        now = _now()
        values = {"password_hash": _hasher.hash(password), "failed_count": 0,
                  "locked_until": None, "updated_at": now}
        done = conn.execute(sa.update(console_accounts)
                            .where(console_accounts.c.principal_id == principal_id)
                            .values(**values)).rowcount
        if not done:
            conn.execute(sa.insert(console_accounts).values(
                principal_id=principal_id, created_at=now, **values))
        # A new password ends every open session of the account.
        conn.execute(sa.delete(console_sessions)
                     .where(console_sessions.c.principal_id == principal_id))


def unlock(engine: sa.Engine, principal_id: str) -> None:
    with engine.begin() as conn:
        done = conn.execute(sa.update(console_accounts)
                            .where(console_accounts.c.principal_id == principal_id)
                            .values(failed_count=0, locked_until=None,
                                    updated_at=_now())).rowcount
    if not done:
        raise NotFound(f"no console account for {principal_id!r}", code="unknown_account")


def list_accounts(engine: sa.Engine) -> list[dict[str, object]]:
    """Every staff principal with its console account state (no hashes)."""
    j = state.principals.outerjoin(
        console_accounts, console_accounts.c.principal_id == state.principals.c.id)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(
            state.principals.c.id, state.principals.c.name, state.principals.c.roles,
            state.principals.c.status, console_accounts.c.principal_id.label("account"),
            console_accounts.c.failed_count, console_accounts.c.locked_until,
            console_accounts.c.last_sign_in).select_from(j)
            .order_by(state.principals.c.id)).all()
    now = _now()
    return [{"id": r.id, "name": r.name, "roles": list(r.roles), "status": r.status,
             "has_account": r.account is not None, "failed_count": r.failed_count or 0,
             "locked": r.locked_until is not None and as_utc(r.locked_until) > now,
             "last_sign_in": r.last_sign_in}
            for r in rows if set(r.roles) & set(STAFF_ROLES)]


def _count_failure(conn: sa.Connection, client: str, now: dt.datetime) -> int:
    row = conn.execute(sa.select(console_sign_in_failures)
                       .where(console_sign_in_failures.c.client == client)
                       .with_for_update()).first()
    if row is None or (now - as_utc(row.window_start)).total_seconds() >= RATE_WINDOW_S:
        conn.execute(sa.delete(console_sign_in_failures)
                     .where(console_sign_in_failures.c.client == client))
        conn.execute(sa.insert(console_sign_in_failures).values(
            client=client, window_start=now, failures=1))
        return 1
    conn.execute(sa.update(console_sign_in_failures)
                 .where(console_sign_in_failures.c.client == client)
                 .values(failures=row.failures + 1))
    return int(row.failures) + 1


def _rate_limited(conn: sa.Connection, client: str, now: dt.datetime) -> int | None:
    """Seconds until ``client`` may try again, or None."""
    row = conn.execute(sa.select(console_sign_in_failures)
                       .where(console_sign_in_failures.c.client == client)).first()
    if row is None or row.failures < RATE_PER_WINDOW:
        return None
    left = RATE_WINDOW_S - (now - as_utc(row.window_start)).total_seconds()
    return int(left) + 1 if left > 0 else None


@dataclass(frozen=True)
class SignInResult:
    """What happened, for the audit entry: ``outcome`` is ok, bad_credentials, locked,
    rate_limited or not_staff."""

    outcome: str
    principal_id: str | None
    session_token: str | None = None
    session: ConsoleSession | None = None


def sign_in(engine: sa.Engine, username: str, password: str, *, client: str,
            idle_s: int, absolute_s: int) -> SignInResult:
    """Check the password and open a session. ``client`` is a keyed hash of the client
    address (rate limit). Never raises for wrong credentials: the caller records the
    outcome in the audit log and shows one generic message."""
    now = _now()
    with engine.begin() as conn:
        if _rate_limited(conn, client, now) is not None:
            return SignInResult("rate_limited", None)
        row = conn.execute(
            sa.select(console_accounts, state.principals.c.name, state.principals.c.roles,
                      state.principals.c.status, state.principals.c.org_uscc)
            .join(state.principals, state.principals.c.id == console_accounts.c.principal_id)
            .where(console_accounts.c.principal_id == username[:64])).first()
        stored = row.password_hash if row is not None else _DUMMY_HASH
        ok: bool
        try:
            ok = _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if row is None:
            _count_failure(conn, client, now)
            return SignInResult("bad_credentials", None)
        if row.locked_until is not None and as_utc(row.locked_until) > now:
            _count_failure(conn, client, now)
            return SignInResult("locked", row.principal_id)
        if not ok:
            failed = row.failed_count + 1
            locked_until = now + dt.timedelta(seconds=LOCK_SECONDS) \
                if failed >= LOCK_AFTER else None
            conn.execute(sa.update(console_accounts)
                         .where(console_accounts.c.principal_id == row.principal_id)
                         .values(failed_count=0 if locked_until else failed,
                                 locked_until=locked_until, updated_at=now))
            _count_failure(conn, client, now)
            return SignInResult("locked" if locked_until else "bad_credentials",
                                row.principal_id)
        roles = tuple(r for r in row.roles if r in STAFF_ROLES)
        if row.status != "active" or not roles:
            return SignInResult("not_staff", row.principal_id)
        updates: dict[str, object] = {"failed_count": 0, "locked_until": None,
                                      "last_sign_in": now, "updated_at": now}
        if _hasher.check_needs_rehash(row.password_hash):
            updates["password_hash"] = _hasher.hash(password)
        conn.execute(sa.update(console_accounts)
                     .where(console_accounts.c.principal_id == row.principal_id)
                     .values(**updates))
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires = now + dt.timedelta(seconds=absolute_s)
        conn.execute(sa.insert(console_sessions).values(
            token_hash=_token_hash(token), principal_id=row.principal_id, csrf_token=csrf,
            created_at=now, last_seen=now, expires_at=expires))
        # Sessions past their deadlines are cleared now and then, here.
        conn.execute(sa.delete(console_sessions).where(sa.or_(
            console_sessions.c.expires_at < now,
            console_sessions.c.last_seen < now - dt.timedelta(seconds=idle_s))))
    principal = Principal(id=row.principal_id, name=row.name, org_uscc=row.org_uscc,
                          roles=roles, key_id=f"console:{_token_hash(token)[:12]}")
    return SignInResult("ok", row.principal_id, token,
                        ConsoleSession(principal, csrf, _token_hash(token), expires))


def resume(engine: sa.Engine, token: str | None, *, idle_s: int) -> ConsoleSession:
    """The session of a cookie, touched; 401 ``session_expired`` when it is unknown, idle
    longer than ``idle_s``, past its absolute expiry, or its principal lost its staff
    roles or was disabled."""
    if not token or len(token) > 128:
        raise Unauthenticated("sign in to use the console", code="no_session")
    th = _token_hash(token)
    now = _now()
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(console_sessions, state.principals.c.name, state.principals.c.roles,
                      state.principals.c.status, state.principals.c.org_uscc)
            .join(state.principals, state.principals.c.id == console_sessions.c.principal_id)
            .where(console_sessions.c.token_hash == th)).first()
        if row is None:
            raise Unauthenticated("sign in to use the console", code="no_session")
        roles = tuple(r for r in row.roles if r in STAFF_ROLES)
        idle = (now - as_utc(row.last_seen)).total_seconds() > idle_s
        if idle or as_utc(row.expires_at) <= now or row.status != "active" or not roles:
            conn.execute(sa.delete(console_sessions)
                         .where(console_sessions.c.token_hash == th))
            raise Unauthenticated("the session has expired; sign in again",
                                  code="session_expired")
        conn.execute(sa.update(console_sessions).where(console_sessions.c.token_hash == th)
                     .values(last_seen=now))
    principal = Principal(id=row.principal_id, name=row.name, org_uscc=row.org_uscc,
                          roles=roles, key_id=f"console:{th[:12]}")
    return ConsoleSession(principal, row.csrf_token, th, as_utc(row.expires_at))


def sign_out(engine: sa.Engine, token_hash: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(console_sessions)
                     .where(console_sessions.c.token_hash == token_hash))


def csrf_ok(session: ConsoleSession, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(session.csrf_token.encode(),
                                                   (submitted or "").encode())


def retry_after(engine: sa.Engine, client: str) -> int | None:
    with engine.connect() as conn:
        return _rate_limited(conn, client, _now())


__all__ = [
    "ConsoleSession",
    "SignInResult",
    "csrf_ok",
    "list_accounts",
    "resume",
    "retry_after",
    "set_password",
    "sign_in",
    "sign_out",
    "unlock",
]
