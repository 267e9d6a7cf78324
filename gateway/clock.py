"""Time helpers shared by the state modules: all timestamps are aware UTC."""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    """The current time, aware UTC."""
    return dt.datetime.now(dt.timezone.utc)


def as_utc(ts: dt.datetime) -> dt.datetime:
    """A stored timestamp as aware UTC (SQLite hands back naive values, stored as UTC)."""
    if ts.tzinfo is None:
        return ts.replace(tzinfo=dt.timezone.utc)
    return ts.astimezone(dt.timezone.utc)


def rfc3339(ts: dt.datetime) -> str:
    """A timestamp as RFC 3339 UTC with a ``Z``, to the second."""
    return as_utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ")
