"""Auditor search: filters on operator, dataset, grant, decision, time; cursor paging."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from gateway.auditlog import AuditLog, search
from gateway.errors import BadCursor, BadRequest

from .helpers import FixedClock, decision_entry

T0 = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def filled(engine: sa.Engine) -> sa.Engine:
    clock = FixedClock(T0)
    log = AuditLog(engine, group_commit=False, clock=clock)
    for i in range(24):
        clock.now = T0 + dt.timedelta(minutes=i)
        log.record("decision", f"req-{i}", decision_entry(
            i, allow=i % 2 == 0, operator=f"op-{i % 3}", dataset=f"ds-{i % 4}",
            grant=None if i % 6 == 5 else f"g-{i % 2}"))
    log.record("release", "req-x", {"note": "no index fields"})
    log.close()
    return engine


@pytest.mark.parametrize(("filters", "expected"), [
    ({"operator_id": "op-1"}, [i for i in range(24) if i % 3 == 1]),
    ({"dataset": "ds-2"}, [i for i in range(24) if i % 4 == 2]),
    ({"grant_id": "g-1"}, [i for i in range(24) if i % 2 == 1 and i % 6 != 5]),
    ({"decision": "deny"}, [i for i in range(24) if i % 2 == 1]),
    ({"decision": "allow", "operator_id": "op-0"}, [0, 6, 12, 18]),
    ({"since": T0 + dt.timedelta(minutes=20)}, [20, 21, 22, 23, 24]),
    ({"until": T0 + dt.timedelta(minutes=2)}, [0, 1]),
    ({"kind": "release"}, [24]),
    ({"request_id": "req-7"}, [7]),
])
def test_success_filters(filled: sa.Engine, filters: dict[str, object],
                         expected: list[int]) -> None:
    page = search(filled, limit=100, **filters)  # type: ignore[arg-type]
    assert [e.seq for e in page.entries] == expected
    assert page.next_cursor is None


def test_success_cursor_pages_through_everything(filled: sa.Engine) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        page = search(filled, limit=7, cursor=cursor)
        seen += [e.seq for e in page.entries]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == list(range(25))
    first = search(filled, limit=1).entries[0]
    assert first.entry["request_id"] == "req-0"
    assert first.to_json()["time"].startswith("2026-05-01T08:00:00")


@pytest.mark.parametrize("cursor", ["nope", "e30", "eyJhZnRlciI6dHJ1ZX0"])
def test_fail_bad_cursor(filled: sa.Engine, cursor: str) -> None:
    with pytest.raises(BadCursor):
        search(filled, cursor=cursor)


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": 5000}, {"decision": "maybe"}])
def test_fail_bad_arguments(filled: sa.Engine, kwargs: dict[str, object]) -> None:
    with pytest.raises(BadRequest):
        search(filled, **kwargs)  # type: ignore[arg-type]
