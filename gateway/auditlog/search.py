"""Auditor queries over the log: filter on indexed columns, page by sequence number."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import sqlalchemy as sa

from gateway.auditlog.entries import as_utc, parse_leaf
from gateway.auditlog.schema import audit_log
from gateway.errors import AuditUnavailable, BadCursor, BadRequest

MAX_LIMIT = 1000


@dataclass(frozen=True)
class LogEntry:
    """One stored entry as an auditor sees it."""

    seq: int
    time: dt.datetime
    kind: str
    request_id: str
    entry: dict[str, Any]
    leaf_hash: bytes

    def to_json(self) -> dict[str, Any]:
        """JSON form; ``leaf_hash`` in base64 so it can be fed to an inclusion check."""
        return {"seq": self.seq, "time": as_utc(self.time).isoformat(), "kind": self.kind,
                "request_id": self.request_id, "entry": self.entry,
                "leaf_hash": base64.b64encode(self.leaf_hash).decode()}


@dataclass(frozen=True)
class SearchPage:
    """A page of entries, oldest first; ``next_cursor`` is None on the last page."""

    entries: list[LogEntry]
    next_cursor: str | None


def _cursor(value: str) -> int:
    try:
        doc = orjson.loads(base64.urlsafe_b64decode(value.encode() + b"=="))
        seq = doc["after"]
    except (ValueError, KeyError, TypeError):
        raise BadCursor("the audit search cursor is malformed") from None
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < -1:
        raise BadCursor("the audit search cursor is malformed")
    return seq


def _make_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"after": seq})).decode().rstrip("=")


def _entry(seq: int, text: str) -> dict[str, Any]:
    try:
        return parse_leaf(text).entry
    except ValueError:
        raise AuditUnavailable(f"audit entry {seq} is damaged; run `pgw audit verify`") from None


def search(engine: sa.Engine, *, since: dt.datetime | None = None,
           until: dt.datetime | None = None, operator_id: str | None = None,
           dataset: str | None = None, decision: Literal["allow", "deny"] | None = None,
           grant_id: str | None = None, kind: str | None = None,
           request_id: str | None = None, cursor: str | None = None,
           limit: int = 100) -> SearchPage:
    """Entries matching every given filter (``since`` inclusive, ``until`` exclusive)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}", code="bad_limit")
    if decision not in (None, "allow", "deny"):
        raise BadRequest("decision must be 'allow' or 'deny'", code="bad_filter")
    q = sa.select(audit_log.c.seq, audit_log.c.time, audit_log.c.kind,
                  audit_log.c.request_id, audit_log.c.entry, audit_log.c.leaf_hash)
    conds: list[sa.ColumnElement[bool]] = []
    if since is not None:
        conds.append(audit_log.c.time >= as_utc(since))
    if until is not None:
        conds.append(audit_log.c.time < as_utc(until))
    for col, value in (("operator_id", operator_id), ("dataset", dataset),
                       ("grant_id", grant_id), ("kind", kind), ("request_id", request_id)):
        if value is not None:
            conds.append(audit_log.c[col] == value)
    if decision is not None:
        conds.append(audit_log.c.allowed.is_(decision == "allow"))
    if cursor:
        conds.append(audit_log.c.seq > _cursor(cursor))
    q = q.where(*conds).order_by(audit_log.c.seq).limit(limit + 1)
    try:
        with engine.connect() as conn:
            rows = conn.execute(q).all()
    except sa.exc.SQLAlchemyError as exc:
        raise AuditUnavailable(f"audit log unreadable ({type(exc).__name__})") from None
    entries = [LogEntry(r.seq, as_utc(r.time), r.kind, r.request_id, _entry(r.seq, r.entry),
                        bytes(r.leaf_hash)) for r in rows[:limit]]
    more = len(rows) > limit
    return SearchPage(entries, _make_cursor(entries[-1].seq) if more else None)
