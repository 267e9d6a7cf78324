"""Quota semantics, the same table on every backend (SQLite, PostgreSQL, Redis)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.errors import TooManyRequests, Unavailable
from gateway.quotas import TOTAL_EXHAUSTED_RETRY_AFTER
from tests.quotas.conftest import Factory

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 2, 10, 15, 20, tzinfo=UTC)  # 40 s to the next minute


def _refused(excinfo: pytest.ExceptionInfo[TooManyRequests], code: str, retry_after: int) -> None:
    assert excinfo.value.status_code == 429
    assert excinfo.value.code == code
    assert excinfo.value.retry_after == retry_after


def test_requests_per_minute_fixed_window(counters: Factory) -> None:
    q, quota = counters(), {"requests_per_minute": 3}
    for i in range(3):
        a = q.admit("g1", quota, now=NOW + dt.timedelta(seconds=i))
        assert a.usage["requests_this_minute"] == i + 1
    with pytest.raises(TooManyRequests) as exc:
        q.admit("g1", quota, now=NOW + dt.timedelta(seconds=10))
    _refused(exc, "quota_requests_per_minute", 30)  # 10:15:30 -> 10:16:00
    assert q.usage("g1", NOW)["requests_this_minute"] == 3  # the refusal was not counted
    q.admit("g1", quota, now=NOW.replace(minute=16, second=0))  # next window
    q.admit("g2", quota, now=NOW)  # other grants have their own counters


@pytest.mark.parametrize(("quota", "requested", "allowed"), [
    ({}, None, None),
    ({}, 50, 50),
    ({"max_rows_per_request": 10}, None, 10),
    ({"max_rows_per_request": 10}, 50, 10),
    ({"max_rows_per_request": 100}, 50, 50),
    ({"rows_per_day": 30}, None, 30),
    ({"rows_per_day": 30, "rows_total": 20}, 50, 20),
    ({"rows_per_day": 30, "rows_total": 40, "max_rows_per_request": 25}, 50, 25),
    ({"rows_per_day": 0}, 0, 0),  # counting-only requests pass even with no rows left
])
def test_rows_allowed(counters: Factory, quota: dict[str, Any], requested: int | None,
                      allowed: int | None) -> None:
    a = counters().admit("g1", quota, now=NOW, requested_rows=requested)
    assert a.rows_allowed == allowed


def test_settle_returns_unused_rows(counters: Factory) -> None:
    q, quota = counters(), {"rows_per_day": 100}
    a = q.admit("g1", quota, now=NOW, requested_rows=60)
    assert (a.rows_allowed, q.usage("g1", NOW)["rows_today"]) == (60, 60)
    a.settle(50)
    a.settle(0)  # idempotent: the second call changes nothing
    assert q.usage("g1", NOW) == {"rows_today": 50, "requests_this_minute": 1,
                                  "rows_total": 50}
    b = q.admit("g1", quota, now=NOW, requested_rows=60)
    assert b.rows_allowed == 50
    b.settle(50)
    with pytest.raises(TooManyRequests) as exc:
        q.admit("g1", quota, now=NOW, requested_rows=1)
    _refused(exc, "quota_rows_per_day", 49_480)  # 10:15:20 -> midnight UTC
    assert q.admit("g1", quota, now=NOW + dt.timedelta(days=1)).rows_allowed == 100


def test_unsettled_reservation_stays_counted(counters: Factory) -> None:
    q, quota = counters(), {"rows_per_day": 100}
    q.admit("g1", quota, now=NOW, requested_rows=70)  # worker died: never settled
    assert q.admit("g1", quota, now=NOW, requested_rows=70).rows_allowed == 30


def test_total_exhausted_across_days(counters: Factory) -> None:
    q, quota = counters(), {"rows_per_day": 100, "rows_total": 150}
    q.admit("g1", quota, now=NOW, requested_rows=100).settle(100)
    tomorrow = NOW + dt.timedelta(days=1)
    q.admit("g1", quota, now=tomorrow, requested_rows=100).settle(50)
    with pytest.raises(TooManyRequests) as exc:
        q.admit("g1", quota, now=tomorrow + dt.timedelta(days=1))
    _refused(exc, "quota_total_exhausted", TOTAL_EXHAUSTED_RETRY_AFTER)


def test_every_blocking_reason_is_listed(counters: Factory) -> None:
    q, quota = counters(), {"requests_per_minute": 1, "rows_per_day": 5}
    q.admit("g1", quota, now=NOW).settle(5)
    with pytest.raises(TooManyRequests) as exc:
        q.admit("g1", quota, now=NOW)
    assert exc.value.code == "quota_rows_per_day"  # the longer wait names the refusal
    assert [r.split(":")[0] for r in exc.value.reasons] == ["quota_rows_per_day",
                                                          "quota_requests_per_minute"]


def test_unlimited_rows_are_still_metered(counters: Factory) -> None:
    q = counters()
    a = q.admit("g1", {}, now=NOW)
    assert a.rows_allowed is None
    a.settle(1234)
    assert q.usage("g1", NOW)["rows_total"] == 1234
    assert q.usage("g1", NOW + dt.timedelta(days=1)) == {
        "rows_today": 0, "requests_this_minute": 0, "rows_total": 1234}


def test_two_workers_share_counters(counters: Factory) -> None:
    w1, w2, quota = counters(), counters(), {"requests_per_minute": 2, "rows_per_day": 10}
    w1.admit("g1", quota, now=NOW, requested_rows=6)
    assert w2.admit("g1", quota, now=NOW, requested_rows=6).rows_allowed == 4
    with pytest.raises(TooManyRequests):
        w1.admit("g1", quota, now=NOW, requested_rows=0)


@pytest.mark.parametrize("quota", [{"rows_per_day": -1}, {"requests_per_minute": "60"},
                                   {"rows_total": True}, {"max_rows_per_request": 1.5}])
def test_invalid_quota_fails_closed(counters: Factory, quota: dict[str, Any]) -> None:
    with pytest.raises(Unavailable) as exc:
        counters().admit("g1", quota, now=NOW)
    assert (exc.value.status_code, exc.value.code) == (503, "quota_invalid")


def test_naive_now_is_refused(counters: Factory) -> None:
    with pytest.raises(ValueError, match="aware"):
        counters().admit("g1", {}, now=NOW.replace(tzinfo=None))
