"""Per-grant quotas: requests per minute, rows per UTC day, rows over the grant's term.

A grant's ``quota`` document (keys absent or ``null`` = unlimited)::

    {"max_rows_per_request": 100000, "requests_per_minute": 60,
     "rows_per_day": 50000, "rows_total": 1000000}

Semantics, shared by both backends (``DbQuotas`` on the state database, ``RedisQuotas`` in
:mod:`gateway.quota_redis`); the state lives only there, so every worker sees one count:

- **Windows** are fixed, in UTC: the minute ``[hh:mm:00, hh:mm+1:00)`` and the day
  ``[00:00, 24:00)``. A fixed window admits at most ``2 x requests_per_minute`` across one
  minute boundary; that is the documented price of O(1) state per grant.
- ``admit`` is all-or-nothing: it counts the request AND reserves rows, or changes nothing
  and raises :class:`~gateway.errors.TooManyRequests` (a refused request is not counted).
- **Rows are reserved up front**: ``rows_allowed = min(requested, max_rows_per_request,
  rows_per_day - rows_today, rows_total - rows_total_used)``; the reservation counts as used
  at once, so parallel requests can never release more than the quota between them.
  ``Admission.settle(rows_sent)`` gives the unused part back. A reservation never settled
  (a worker died mid-stream) stays counted as sent, in ``rows_total`` for good and in
  ``rows_today`` until the day ends: we cannot know how many rows left (fail closed).
- ``requested_rows=0`` (verify, aggregate) counts the request only, and passes even when no
  rows remain; ``None`` means "as many as the quota allows". Unlimited rows are still
  counted (on settle), so ``usage`` always feeds the policy input.
- A backend error refuses the request: ``Unavailable(code="quota_unavailable")``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from gateway import state
from gateway.errors import TooManyRequests, Unavailable, Unprocessable

log = logging.getLogger("gateway.quotas")

QUOTA_KEYS = ("max_rows_per_request", "requests_per_minute", "rows_per_day", "rows_total")
TOTAL_EXHAUSTED_RETRY_AFTER = 86_400  # the total never comes back by itself; retry daily
BLOCK_MINUTE, BLOCK_DAY, BLOCK_TOTAL = 1, 2, 4
MINUTE_ROWS_KEPT_S = 3600  # minute counters older than this are purged
_INSERTS: dict[str, Callable[..., Any]] = {"postgresql": postgresql.insert,
                                           "sqlite": sqlite.insert}

quota_counters = sa.Table(
    "quota_counters",
    state.metadata,
    sa.Column("grant_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(8), primary_key=True),  # minute | day | total
    sa.Column("window_start", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("used", sa.BigInteger, nullable=False),
)


@dataclass(frozen=True)
class QuotaLimits:
    """A parsed quota document; ``None`` = unlimited."""

    max_rows_per_request: int | None = None
    requests_per_minute: int | None = None
    rows_per_day: int | None = None
    rows_total: int | None = None

    @classmethod
    def parse(cls, quota: Mapping[str, Any]) -> QuotaLimits:
        """Validate a grant's quota document (unknown keys are left to other owners)."""
        values: dict[str, int | None] = {}
        for key in QUOTA_KEYS:
            v = quota.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise Unprocessable(f"quota {key!r} must be a non-negative integer or null",
                                    code="invalid_quota")
            values[key] = v
        return cls(**values)

    def want(self, requested_rows: int | None) -> int | None:
        """Rows this request may take before the counters are consulted; None = no cap."""
        if requested_rows is not None and requested_rows < 0:
            raise ValueError("requested_rows must be >= 0 or None")
        caps = [c for c in (requested_rows, self.max_rows_per_request) if c is not None]
        return min(caps) if caps else None


@dataclass(frozen=True)
class Windows:
    """The UTC windows ``now`` falls in, as unix seconds."""

    now: float
    minute: int
    day: int

    @classmethod
    def at(cls, now: dt.datetime) -> Windows:
        if now.tzinfo is None:
            raise ValueError("quota windows need an aware datetime (UTC)")
        ts = now.timestamp()
        sec = math.floor(ts)
        return cls(now=ts, minute=sec - sec % 60, day=sec - sec % 86_400)

    def retry_after(self, blocked: int) -> int:
        """Seconds until the slowest blocking window resets."""
        waits = []
        if blocked & BLOCK_MINUTE:
            waits.append(self.minute + 60 - self.now)
        if blocked & BLOCK_DAY:
            waits.append(self.day + 86_400 - self.now)
        if blocked & BLOCK_TOTAL:
            waits.append(TOTAL_EXHAUSTED_RETRY_AFTER)
        return max(1, math.ceil(max(waits)))


def evaluate(limits: QuotaLimits, want: int | None, minute: int, day: int,
             total: int) -> tuple[int, int | None]:
    """(blocked flags, rows allowed) for counters as they stand. The Lua script in
    :mod:`gateway.quota_redis` is the same function; keep the two in step."""
    blocked = 0
    if limits.requests_per_minute is not None and minute + 1 > limits.requests_per_minute:
        blocked |= BLOCK_MINUTE
    allowed = want
    if want != 0:
        for flag, limit, used in ((BLOCK_DAY, limits.rows_per_day, day),
                                  (BLOCK_TOTAL, limits.rows_total, total)):
            if limit is None:
                continue
            left = limit - used
            if left <= 0:
                blocked |= flag
            elif allowed is None or left < allowed:
                allowed = left
    return blocked, allowed


def refuse(blocked: int, windows: Windows) -> TooManyRequests:
    """The 429 for ``blocked``: code of the longest wait, every reason listed."""
    reasons = []
    if blocked & BLOCK_TOTAL:
        reasons.append("quota_total_exhausted: the grant's total row quota is used up; "
                       "ask the data authority to raise it")
    if blocked & BLOCK_DAY:
        reasons.append("quota_rows_per_day: today's row quota (UTC day) is used up")
    if blocked & BLOCK_MINUTE:
        reasons.append("quota_requests_per_minute: too many requests this minute (UTC)")
    code, _, message = reasons[0].partition(": ")
    return TooManyRequests(message, retry_after=windows.retry_after(blocked), code=code,
                           reasons=reasons)


class Admission:
    """One admitted request. ``rows_allowed`` caps what the gateway releases (None = no cap);
    ``settle(rows_sent)`` returns the unused reservation. ``usage`` includes this request."""

    __slots__ = ("_lock", "_release", "_settled", "grant_id", "reserved", "rows_allowed",
                 "usage")

    def __init__(self, grant_id: str, rows_allowed: int | None, reserved: int,
                 usage: dict[str, int], release: Callable[[int], None]) -> None:
        self.grant_id = grant_id
        self.rows_allowed = rows_allowed
        self.reserved = reserved
        self.usage = usage
        self._release = release
        self._lock = threading.Lock()
        self._settled = False

    @property
    def settled(self) -> bool:
        return self._settled

    def settle(self, rows_sent: int) -> None:
        """Charge ``rows_sent`` and return the rest of the reservation. Idempotent; never
        raises: if the backend fails, the reservation stays counted (fail closed)."""
        with self._lock:
            if self._settled:
                return
            self._settled = True  # before the call: a lost reply must not release twice
        delta = self.reserved - max(0, int(rows_sent))
        if delta == 0:
            return
        try:
            self._release(delta)
        except Exception:  # settling happens after the response: log, never raise
            log.warning("quota settle failed for grant %s; %d rows stay reserved",
                        self.grant_id, delta, exc_info=True)


class QuotaCounter(Protocol):
    """Per-grant counters shared by every gateway worker."""

    def admit(self, grant_id: str, quota: Mapping[str, Any], *, now: dt.datetime,
              requested_rows: int | None = None) -> Admission:
        """Count one request and reserve rows, or raise ``TooManyRequests``."""
        ...

    def usage(self, grant_id: str, now: dt.datetime) -> dict[str, int]:
        """``{"rows_today", "requests_this_minute", "rows_total"}`` at ``now``."""
        ...


def parse_for_admit(quota: Mapping[str, Any]) -> QuotaLimits:
    """``QuotaLimits.parse`` for a stored grant: a broken document refuses (503)."""
    try:
        return QuotaLimits.parse(quota)
    except Unprocessable as exc:
        raise Unavailable(f"the grant's quota is invalid: {exc.message}",
                          code="quota_invalid") from None


def _match(grant_id: str, keys: list[tuple[str, int]]) -> sa.ColumnElement[bool]:
    c = quota_counters.c
    return sa.and_(c.grant_id == grant_id,
                   sa.or_(*(sa.and_(c.kind == k, c.window_start == s) for k, s in keys)))


def _usage(minute: int, day: int, total: int) -> dict[str, int]:
    return {"rows_today": day, "requests_this_minute": minute, "rows_total": total}


class DbQuotas:
    """Counters in the state database (SQLite or PostgreSQL), one row per
    (grant, window kind, window start). ``admit`` locks the grant's three rows in a fixed
    order (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serializes writers and the
    transaction opens with a write), so parallel admits never overshoot."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def admit(self, grant_id: str, quota: Mapping[str, Any], *, now: dt.datetime,
              requested_rows: int | None = None) -> Admission:
        """See :class:`QuotaCounter`."""
        limits = parse_for_admit(quota)
        w = Windows.at(now)
        want = limits.want(requested_rows)
        c = quota_counters.c
        try:
            with self.engine.begin() as conn:
                keys = [("day", w.day), ("minute", w.minute), ("total", 0)]
                if self._ensure_rows(conn, grant_id, keys):
                    conn.execute(sa.delete(quota_counters).where(
                        c.grant_id == grant_id, c.kind == "minute",
                        c.window_start < w.minute - MINUTE_ROWS_KEPT_S))
                used = self._locked(conn, grant_id, keys)
                blocked, allowed = evaluate(limits, want, used["minute"], used["day"],
                                            used["total"])
                if blocked:
                    raise refuse(blocked, w)
                reserve = allowed or 0
                # One statement for the three rows: they are locked already, so no new
                # lock is taken here and the order cannot deadlock.
                conn.execute(sa.update(quota_counters).where(_match(grant_id, keys)).values(
                    used=c.used + sa.case((c.kind == "minute", 1), else_=reserve)))
                used = {k: v + (1 if k == "minute" else reserve) for k, v in used.items()}
        except sa.exc.SQLAlchemyError as exc:
            raise Unavailable("quota counters unavailable; request refused",
                              code="quota_unavailable") from exc
        return Admission(grant_id, allowed, reserve,
                         _usage(used["minute"], used["day"], used["total"]),
                         lambda delta: self._release(grant_id, w.day, delta))

    def usage(self, grant_id: str, now: dt.datetime) -> dict[str, int]:
        """See :class:`QuotaCounter`."""
        w = Windows.at(now)
        c = quota_counters.c
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.select(c.kind, c.used).where(
                    _match(grant_id, [("minute", w.minute), ("day", w.day), ("total", 0)])
                )).all()
        except sa.exc.SQLAlchemyError as exc:
            raise Unavailable("quota counters unavailable", code="quota_unavailable") from exc
        used = {r.kind: int(r.used) for r in rows}
        return _usage(used.get("minute", 0), used.get("day", 0), used.get("total", 0))

    def _ensure_rows(self, conn: sa.Connection, grant_id: str,
                     keys: list[tuple[str, int]]) -> bool:
        """Insert missing counter rows; True when one was new. Runs first in the
        transaction so SQLite takes its write lock before reading (no stale snapshot)."""
        rows = [{"grant_id": grant_id, "kind": k, "window_start": s, "used": 0}
                for k, s in keys]
        insert = _INSERTS[conn.dialect.name]  # the state database is SQLite or PostgreSQL
        res = conn.execute(insert(quota_counters).values(rows).on_conflict_do_nothing())
        return bool(res.rowcount and res.rowcount > 0)

    def _locked(self, conn: sa.Connection, grant_id: str,
                keys: list[tuple[str, int]]) -> dict[str, int]:
        c = quota_counters.c
        rows = conn.execute(sa.select(c.kind, c.used).where(_match(grant_id, keys))
                            .order_by(c.kind).with_for_update()).all()
        return {r.kind: int(r.used) for r in rows}

    def _release(self, grant_id: str, day: int, delta: int) -> None:
        c = quota_counters.c
        with self.engine.begin() as conn:
            for kind, start in (("day", day), ("total", 0)):  # same lock order as admit
                conn.execute(sa.update(quota_counters)
                             .where(c.grant_id == grant_id, c.kind == kind,
                                    c.window_start == start)
                             .values(used=c.used - delta))


def build_quota_counter(redis_url: str | None, engine: sa.Engine) -> QuotaCounter:
    """Redis when ``GATEWAY_REDIS_URL`` is set, else the state database."""
    if redis_url:
        from gateway.quota_redis import RedisQuotas

        return RedisQuotas(redis_url)
    return DbQuotas(engine)
