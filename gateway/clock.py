"""Time helpers shared by the state modules: all timestamps are aware UTC."""

from __future__ import annotations

import datetime as dt

# China Standard Time: UTC+8 all year, no daylight saving since 1991 (needs no tz database).
CST = dt.timezone(dt.timedelta(hours=8), "CST")


def now() -> dt.datetime:
    """The current time, aware UTC."""
    return dt.datetime.now(dt.UTC)


def as_utc(ts: dt.datetime) -> dt.datetime:
    """A stored timestamp as aware UTC (SQLite hands back naive values, stored as UTC)."""
    if ts.tzinfo is None:
        return ts.replace(tzinfo=dt.UTC)
    return ts.astimezone(dt.UTC)


def rfc3339(ts: dt.datetime) -> str:
    """A timestamp as RFC 3339 UTC with a ``Z``, to the second."""
    return as_utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ")
