"""Policy versions in the state database, and their lifecycle.

A version is a :class:`~gateway.policy.bundle.PolicyBundle` (modules, data, tests; its
content hash) with an author, a message, a parent and a state::

    draft -> proposed -> approved -> active -> superseded
                      \\-> rejected            (superseded -> active: rollback only)

``policy_active`` holds one row: the active version and a ``generation`` that grows by
one on every activation or rollback. Every gateway process compares that pair on each
decision (gateway.policy.active), so changing the row in one transaction switches all
of them at once. ``history`` is the stack of previously active versions (rollback pops).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from gateway.audit import Recorder
from gateway.clock import now as _now
from gateway.errors import Conflict, Forbidden, NotFound, Unprocessable
from gateway.policy.bundle import PolicyBundle
from gateway.state import metadata

if TYPE_CHECKING:
    from gateway.policy.checks import CheckReport

DRAFT, PROPOSED, APPROVED, ACTIVE = "draft", "proposed", "approved", "active"
SUPERSEDED, REJECTED = "superseded", "rejected"
STATES = (DRAFT, PROPOSED, APPROVED, ACTIVE, SUPERSEDED, REJECTED)

policy_versions = sa.Table(
    "policy_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("hash", sa.String(64), nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("parent_id", sa.Integer, nullable=True),
    sa.Column("modules", sa.JSON, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("tests", sa.JSON, nullable=False),
    sa.Column("approved_by", sa.String(64), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

policy_events = sa.Table(
    "policy_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("version_id", sa.Integer, nullable=False, index=True),
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

policy_active = sa.Table(
    "policy_active",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # always 1
    sa.Column("version_id", sa.Integer, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("history", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class PolicyVersion:
    """One stored version (without its sources: see :func:`get_bundle`)."""

    id: int
    hash: str
    state: str
    author: str
    message: str
    parent_id: int | None
    approved_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "hash": self.hash, "state": self.state, "author": self.author,
                "message": self.message, "parent_id": self.parent_id,
                "approved_by": self.approved_by, "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat()}


_COLS = [policy_versions.c[n] for n in ("id", "hash", "state", "author", "message",
                                        "parent_id", "approved_by", "created_at",
                                        "updated_at")]


def _row(row: Any) -> PolicyVersion:
    return PolicyVersion(*row)


def create_version(engine: sa.Engine, bundle: PolicyBundle, *, author: str, message: str,
                   parent_id: int | None = None, state: str = DRAFT) -> PolicyVersion:
    """Store ``bundle`` as a new version (a draft unless ``state`` says otherwise)."""
    now = _now()
    with engine.begin() as conn:
        key = conn.execute(policy_versions.insert().values(
            hash=bundle.hash, state=state, author=author, message=message,
            parent_id=parent_id, modules=dict(bundle.modules), data=dict(bundle.data),
            tests=dict(bundle.tests), created_at=now, updated_at=now,
        )).inserted_primary_key
        assert key is not None
        new_id = key[0]
        _event(conn, int(new_id), "create", author, {"hash": bundle.hash, "state": state})
    return get_version(engine, int(new_id))


def list_versions(engine: sa.Engine) -> list[PolicyVersion]:
    """Every version, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*_COLS).order_by(policy_versions.c.id.desc()))
        return [_row(r) for r in rows]


def resolve(engine: sa.Engine, ref: str | int) -> int:
    """A version id from ``"active"``, ``"12"`` or ``12``; ``NotFound`` otherwise."""
    if ref == "active":
        active = active_pointer(engine)
        if active is None:
            raise NotFound("no policy version is active", code="policy_version_not_found")
        return active[0]
    try:
        return int(ref)
    except ValueError:
        raise NotFound(f"no policy version {ref!r}", code="policy_version_not_found") from None


def get_version(engine: sa.Engine, version_id: int) -> PolicyVersion:
    """The version, or ``NotFound`` (code ``policy_version_not_found``)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(*_COLS).where(policy_versions.c.id == version_id)).first()
    if row is None:
        raise NotFound(f"no policy version {version_id}", code="policy_version_not_found")
    return _row(row)


def get_bundle(engine: sa.Engine, version_id: int) -> PolicyBundle:
    """The version's sources as a bundle (its hash is recomputed, so it is checked)."""
    c = policy_versions.c
    with engine.connect() as conn:
        row = conn.execute(sa.select(c.modules, c.data, c.tests, c.hash)
                           .where(c.id == version_id)).first()
    if row is None:
        raise NotFound(f"no policy version {version_id}", code="policy_version_not_found")
    bundle = PolicyBundle.build(row.modules, row.data, row.tests)
    if bundle.hash != row.hash:
        raise Conflict(f"policy version {version_id} does not match its stored hash",
                       code="policy_version_corrupt")
    return bundle


def events(engine: sa.Engine, version_id: int) -> list[dict[str, Any]]:
    """The version's lifecycle events, oldest first."""
    c = policy_events.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.event, c.actor, c.detail, c.at)
                            .where(c.version_id == version_id).order_by(c.id))
        return [{"event": r.event, "actor": r.actor, "detail": r.detail,
                 "at": r.at.isoformat()} for r in rows]


def active_pointer(engine: sa.Engine | sa.Connection) -> tuple[int, int] | None:
    """``(version id, generation)`` of the active version; one primary-key lookup."""
    query = sa.select(policy_active.c.version_id, policy_active.c.generation) \
        .where(policy_active.c.id == 1)
    if isinstance(engine, sa.Connection):
        row = engine.execute(query).first()
    else:
        with engine.connect() as conn:
            row = conn.execute(query).first()
    return None if row is None else (int(row[0]), int(row[1]))


# --- transitions -------------------------------------------------------------------


def _event(conn: sa.Connection, version_id: int, event: str, actor: str,
           detail: Mapping[str, Any]) -> None:
    conn.execute(policy_events.insert().values(version_id=version_id, event=event,
                                               actor=actor, detail=dict(detail), at=_now()))


def _locked_state(conn: sa.Connection, version_id: int) -> tuple[str, str]:
    row = conn.execute(sa.select(policy_versions.c.state, policy_versions.c.author)
                       .where(policy_versions.c.id == version_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"no policy version {version_id}", code="policy_version_not_found")
    return str(row.state), str(row.author)


def _set_state(conn: sa.Connection, version_id: int, state: str, **extra: Any) -> None:
    conn.execute(policy_versions.update().where(policy_versions.c.id == version_id)
                 .values(state=state, updated_at=_now(), **extra))


def _require(state: str, allowed: tuple[str, ...], verb: str, version_id: int) -> None:
    if state not in allowed:
        raise Conflict(f"cannot {verb} policy version {version_id}: it is {state} "
                       f"(needs {' or '.join(allowed)})", code="illegal_transition")


def mark_proposed(engine: sa.Engine, version_id: int, actor: str) -> PolicyVersion:
    """draft -> proposed. The caller has run the checks (gateway.policy.checks)."""
    with engine.begin() as conn:
        state, _ = _locked_state(conn, version_id)
        _require(state, (DRAFT,), "propose", version_id)
        _set_state(conn, version_id, PROPOSED)
        _event(conn, version_id, "propose", actor, {})
    return get_version(engine, version_id)


def review(engine: sa.Engine, version_id: int, actor: str, *, approve: bool,
           note: str = "") -> PolicyVersion:
    """proposed -> approved or rejected, by an admin other than the author
    (``Forbidden``, code ``own_version``, otherwise)."""
    verb = "approve" if approve else "reject"
    with engine.begin() as conn:
        state, author = _locked_state(conn, version_id)
        _require(state, (PROPOSED,), verb, version_id)
        if author == actor:
            raise Forbidden(f"policy version {version_id} was proposed by {actor}: another "
                            f"admin must {verb} it", code="own_version")
        _set_state(conn, version_id, APPROVED if approve else REJECTED, approved_by=actor)
        _event(conn, version_id, verb, actor, {"note": note})
    return get_version(engine, version_id)


def _lock_pointer(conn: sa.Connection) -> Any:
    return conn.execute(sa.select(policy_active).where(policy_active.c.id == 1)
                        .with_for_update()).first()


def _point(conn: sa.Connection, current: Any, version_id: int, history: list[int]) -> None:
    now = _now()
    if current is None:
        conn.execute(policy_active.insert().values(id=1, version_id=version_id, generation=1,
                                                   history=history, updated_at=now))
    else:
        conn.execute(policy_active.update().where(policy_active.c.id == 1).values(
            version_id=version_id, generation=current.generation + 1, history=history,
            updated_at=now))


def activate(engine: sa.Engine, version_id: int, actor: str,
             *, allowed: tuple[str, ...] = (APPROVED,)) -> PolicyVersion:
    """approved -> active, in one transaction with the previous active version becoming
    superseded and the generation moving on: every process switches on its next decision."""
    with engine.begin() as conn:
        current = _lock_pointer(conn)
        state, _ = _locked_state(conn, version_id)
        _require(state, allowed, "activate", version_id)
        history: list[int] = []
        if current is not None:
            history = [*current.history, current.version_id]
            _set_state(conn, current.version_id, SUPERSEDED)
            _event(conn, current.version_id, "supersede", actor, {"by": version_id})
        _set_state(conn, version_id, ACTIVE)
        _point(conn, current, version_id, history)
        _event(conn, version_id, "activate", actor, {"previous": history[-1] if history else None})
    return get_version(engine, version_id)


def rollback(engine: sa.Engine, actor: str) -> tuple[PolicyVersion, PolicyVersion]:
    """Reactivate the version that was active before the current one; the current one
    becomes superseded. Returns ``(now active, rolled back)``."""
    with engine.begin() as conn:
        current = _lock_pointer(conn)
        if current is None or not current.history:
            raise Conflict("there is no previously active policy version to roll back to",
                           code="nothing_to_roll_back")
        *rest, previous = current.history
        _set_state(conn, current.version_id, SUPERSEDED)
        _set_state(conn, previous, ACTIVE)
        _point(conn, current, previous, rest)
        _event(conn, current.version_id, "rolled_back", actor, {"to": previous})
        _event(conn, previous, "rollback", actor, {"from": current.version_id})
    return get_version(engine, previous), get_version(engine, current.version_id)


def seed(engine: sa.Engine, bundle: PolicyBundle) -> PolicyVersion | None:
    """Store ``bundle`` as the active version (author ``seed``) if none is active yet."""
    if active_pointer(engine) is not None:
        return None
    version = create_version(engine, bundle, author="seed", message="seed from policies/",
                             state=APPROVED)
    return activate(engine, version.id, "seed")


# --- the lifecycle with its audit entries (API and CLI) -----------------------------


class ChecksFailed(Unprocessable):
    """A version that fails its checks cannot be proposed; ``report`` has every finding."""

    code = "checks_failed"

    def __init__(self, version_id: int, report: CheckReport) -> None:
        errors = [f for f in report.findings if f.severity == "error"]
        super().__init__(f"policy version {version_id} fails {len(errors)} check(s)",
                         reasons=[str(f) for f in errors])
        self.report = report


def audit(recorder: Recorder, request_id: str, event: str, actor: str,
          version: PolicyVersion, **extra: Any) -> None:
    """Append a lifecycle event to the audit log (kind ``policy``)."""
    recorder.record("policy", request_id, {"event": event, "actor": actor,
                                           "version_id": version.id, "hash": version.hash,
                                           **extra})


def check(engine: sa.Engine, version_id: int) -> CheckReport:
    """Run every check (gateway.policy.checks) on a stored version."""
    from gateway.policy.checks import run_checks

    return run_checks(get_bundle(engine, version_id))


def propose(engine: sa.Engine, recorder: Recorder, request_id: str, version_id: int,
            actor: str) -> tuple[PolicyVersion, CheckReport]:
    """draft -> proposed if every check passes (else ``ChecksFailed``), audited."""
    _require(get_version(engine, version_id).state, (DRAFT,), "propose", version_id)
    report = check(engine, version_id)
    if not report.ok:
        raise ChecksFailed(version_id, report)
    version = mark_proposed(engine, version_id, actor)
    audit(recorder, request_id, "propose", actor, version,
          coverage=report.coverage.get("coverage"))
    return version, report


def review_audited(engine: sa.Engine, recorder: Recorder, request_id: str, version_id: int,
                   actor: str, *, approve: bool, note: str = "") -> PolicyVersion:
    """:func:`review`, audited as ``approve`` or ``reject``."""
    version = review(engine, version_id, actor, approve=approve, note=note)
    audit(recorder, request_id, "approve" if approve else "reject", actor, version, note=note)
    return version


def activate_audited(engine: sa.Engine, recorder: Recorder, request_id: str,
                     version_id: int, actor: str) -> PolicyVersion:
    """:func:`activate`, audited with the generation it produced."""
    version = activate(engine, version_id, actor)
    audit(recorder, request_id, "activate", actor, version, generation=_generation(engine))
    return version


def rollback_audited(engine: sa.Engine, recorder: Recorder, request_id: str,
                     actor: str) -> tuple[PolicyVersion, PolicyVersion]:
    """:func:`rollback`, audited on the version that is active again."""
    now_active, rolled_back = rollback(engine, actor)
    audit(recorder, request_id, "rollback", actor, now_active,
          rolled_back={"version_id": rolled_back.id, "hash": rolled_back.hash},
          generation=_generation(engine))
    return now_active, rolled_back


def _generation(engine: sa.Engine) -> int | None:
    pointer = active_pointer(engine)
    return None if pointer is None else pointer[1]
