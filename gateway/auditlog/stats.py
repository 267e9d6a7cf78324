"""Per-day figures from the audit log: requests, denials and rows released, by grant and
by dataset (the auditor's charts). Days are China Standard Time calendar days.

Reads the indexed columns for decisions and parses only release entries (for
``row_count``), streaming in bounded batches.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from gateway.auditlog.entries import as_utc, parse_leaf
from gateway.auditlog.schema import audit_log
from gateway.clock import CST

LOCAL_TZ = CST
MAX_DAYS = 366
_BATCH = 5000


@dataclass
class DayFigures:
    requests: int = 0
    denials: int = 0
    rows: int = 0

    def to_json(self) -> dict[str, int]:
        return {"requests": self.requests, "denials": self.denials, "rows": self.rows}


@dataclass
class DailyStats:
    """``by_grant[grant][day]`` and ``by_dataset[dataset][day]``; ``days`` in order."""

    days: list[dt.date]
    total: dict[dt.date, DayFigures] = field(default_factory=dict)
    by_grant: dict[str, dict[dt.date, DayFigures]] = field(default_factory=dict)
    by_dataset: dict[str, dict[dt.date, DayFigures]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        def series(d: dict[dt.date, DayFigures]) -> list[dict[str, Any]]:
            return [{"day": day.isoformat(), **d.get(day, DayFigures()).to_json()}
                    for day in self.days]

        return {"days": [d.isoformat() for d in self.days], "total": series(self.total),
                "by_grant": {k: series(v) for k, v in sorted(self.by_grant.items())},
                "by_dataset": {k: series(v) for k, v in sorted(self.by_dataset.items())}}


def daily_stats(engine: sa.Engine, *, until: dt.datetime, days: int = 14) -> DailyStats:
    """Figures for the ``days`` local calendar days ending with the day of ``until``."""
    days = max(1, min(days, MAX_DAYS))
    last = as_utc(until).astimezone(LOCAL_TZ).date()
    day_list = [last - dt.timedelta(days=i) for i in range(days - 1, -1, -1)]
    start = dt.datetime.combine(day_list[0], dt.time(0), tzinfo=LOCAL_TZ)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=LOCAL_TZ)
    stats = DailyStats(days=day_list)
    by_grant: dict[str, dict[dt.date, DayFigures]] = defaultdict(dict)
    by_dataset: dict[str, dict[dt.date, DayFigures]] = defaultdict(dict)
    q = (sa.select(audit_log.c.seq, audit_log.c.time, audit_log.c.kind, audit_log.c.grant_id,
                   audit_log.c.dataset, audit_log.c.allowed, audit_log.c.entry)
         .where(audit_log.c.time >= start.astimezone(dt.UTC),
                audit_log.c.time < end.astimezone(dt.UTC),
                audit_log.c.kind.in_(("decision", "release")))
         .order_by(audit_log.c.seq))
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=_BATCH).execute(q)
        for row in result:
            day = as_utc(row.time).astimezone(LOCAL_TZ).date()
            targets = [stats.total.setdefault(day, DayFigures())]
            if row.grant_id:
                targets.append(by_grant[row.grant_id].setdefault(day, DayFigures()))
            if row.dataset:
                targets.append(by_dataset[row.dataset].setdefault(day, DayFigures()))
            if row.kind == "decision":
                # A request has one decision entry (allowed or denied) before any fetch.
                for t in targets:
                    t.requests += 1
                    t.denials += row.allowed is False
            else:
                try:
                    count = parse_leaf(row.entry).entry.get("row_count")
                except ValueError:
                    continue  # a damaged entry is verify's to report, not the chart's
                if isinstance(count, int) and not isinstance(count, bool):
                    for t in targets:
                        t.rows += count
    stats.by_grant = dict(by_grant)
    stats.by_dataset = dict(by_dataset)
    return stats
