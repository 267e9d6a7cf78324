"""Synthetic audit histories, appended through the real ``AuditLog`` with a set clock.

Entries are shaped like the pipeline's (``gateway/decide.py``, ``respond.py``,
``verification.py``): a decision entry per request, then a release entry for an allowed
one (``row_count`` for rows, ``matches``/``no_matches`` for verify). Times are local
(Asia/Shanghai): day 0 is the window, days 1.. the history before it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from gateway.auditlog import AuditLog
from tests.auditlog.helpers import FixedClock

SHANGHAI = ZoneInfo("Asia/Shanghai")
END = dt.datetime(2026, 6, 2, tzinfo=SHANGHAI)  # the window is Monday 2026-06-01, local


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """Local ``hour:minute:second`` on the window day (0) or ``day`` days before it."""
    return END - dt.timedelta(days=day + 1) + dt.timedelta(hours=hour, minutes=minute,
                                                            seconds=second)


def weekday(day: int) -> bool:
    return at(day, 12).weekday() < 5


@dataclass(frozen=True)
class Req:
    time: dt.datetime
    grant: str | None = "g-1"
    operator: str = "op-1"
    key: str = "k-1"
    ip: str = "10.1.2.3"
    allow: bool = True
    action: str = "rows"
    rows: int = 10
    match: bool = True
    dataset: str = "huji_renkou"


@dataclass(frozen=True)
class Written:
    req: Req
    decision_seq: int
    release_seq: int | None


def _decision(r: Req, request_id: str) -> dict[str, Any]:
    return {
        "time": r.time.isoformat(), "request_id": request_id, "action": r.action,
        "principal": {"operator_id": r.operator, "org_uscc": "91310110666007217T",
                      "key_id": r.key, "roles": ["operator"]},
        "dataset": r.dataset, "requested_fields": ["name", "region_code"], "filters": [],
        "purpose": "population_research", "grant_id": r.grant, "client_ip": r.ip,
        "policy_engine": "embedded", "policy_version": "sha256:abc",
        "decision": {"allow": r.allow,
                     "reasons": [] if r.allow else ["purpose_not_granted: 用途未获授权"]},
    }


def _release(r: Req, decision: dict[str, Any]) -> dict[str, Any]:
    entry = {**decision, "status": "complete", "format": "json",
             "payload_sha256": "0" * 64, "receipt_id": "rcpt-" + decision["request_id"]}
    if r.action == "verify":
        entry.update({"matches": int(r.match), "no_matches": int(not r.match),
                      "fields_matched": None})
    else:
        entry["row_count"] = r.rows
    return entry


class History:
    """Requests planned in any order, written in time order by :meth:`write`."""

    def __init__(self) -> None:
        self.reqs: list[Req] = []

    def add(self, time: dt.datetime, n: int = 1, every: dt.timedelta = dt.timedelta(0),
            **kw: Any) -> None:
        """``n`` requests from ``time``, ``every`` apart."""
        for i in range(n):
            self.reqs.append(Req(time=time + i * every, **kw))

    def write(self, engine: sa.Engine) -> list[Written]:
        clock = FixedClock(END)
        log = AuditLog(engine, group_commit=False, durable=False, clock=clock)
        out = []
        try:
            for i, r in enumerate(sorted(self.reqs, key=lambda r: r.time)):
                clock.now = r.time.astimezone(dt.UTC)  # the log stores the clock as given
                doc = _decision(r, f"req-{i}")
                seq = log.record("decision", doc["request_id"], doc)
                rel = None
                if r.allow:
                    clock.now = clock.now + dt.timedelta(milliseconds=5)
                    rel = log.record("release", doc["request_id"], _release(r, doc))
                out.append(Written(r, seq, rel))
        finally:
            log.close()
        return out


def daily(h: History, days: Iterable[int], hours: tuple[int, ...], **kw: Any) -> None:
    """One request at each of ``hours`` on each of ``days``."""
    for d in days:
        for hour in hours:
            h.add(at(d, hour, 17), **kw)

