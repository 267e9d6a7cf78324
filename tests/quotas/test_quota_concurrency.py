"""Parallel admits from 16 threads never overshoot a quota, on every backend."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from gateway.errors import TooManyRequests
from tests.quotas.conftest import Factory

NOW = dt.datetime(2026, 3, 2, 10, 15, 20, tzinfo=dt.UTC)
THREADS = 16
T = TypeVar("T")


def _parallel(work: Callable[[int], T]) -> list[T]:
    start = threading.Barrier(THREADS)

    def run(i: int) -> T:
        start.wait()
        return work(i)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def test_requests_per_minute_never_overshoots(counters: Factory) -> None:
    quota = {"requests_per_minute": 50}

    def work(i: int) -> int:
        q, admitted = counters(), 0
        for _ in range(8):  # 128 attempts for 50 slots
            try:
                q.admit("g1", quota, now=NOW)
                admitted += 1
            except TooManyRequests as exc:
                assert exc.code == "quota_requests_per_minute"
        return admitted

    assert sum(_parallel(work)) == 50
    assert counters().usage("g1", NOW)["requests_this_minute"] == 50


def test_reserved_rows_never_overshoot(counters: Factory) -> None:
    quota = {"rows_per_day": 1000, "rows_total": 700}

    def work(i: int) -> int:
        q, reserved = counters(), 0
        for _ in range(5):  # 80 requests x 25 rows for 700; never settled
            try:
                reserved += q.admit("g1", quota, now=NOW, requested_rows=25).rows_allowed or 0
            except TooManyRequests as exc:
                assert exc.code == "quota_total_exhausted"
        return reserved

    assert sum(_parallel(work)) == 700


def test_settled_rows_are_reused_without_overshoot(counters: Factory) -> None:
    """Each request sends fewer rows than it reserved and settles; the pool drains to
    exactly the limit, and what was never sent went back to the pool."""
    limit = 600
    quota = {"rows_per_day": limit, "max_rows_per_request": 25}
    lock = threading.Lock()
    outstanding = [0]  # reserved and not yet settled, as the threads know it
    peak = [0]

    def work(i: int) -> int:
        q, sent = counters(), 0
        for n in range(200):
            try:
                a = q.admit("g1", quota, now=NOW, requested_rows=25)
            except TooManyRequests:
                break
            allowed = a.rows_allowed or 0
            with lock:
                outstanding[0] += allowed
                peak[0] = max(peak[0], outstanding[0] + total_sent[0])
            rows = allowed if allowed <= 2 else allowed - 1 - (i + n) % 3
            with lock:  # count down before settling: our view never runs ahead
                outstanding[0] -= allowed
                total_sent[0] += rows
            a.settle(rows)
            sent += rows
        return sent

    total_sent = [0]
    assert sum(_parallel(work)) == limit
    assert peak[0] <= limit
    assert counters().usage("g1", NOW)["rows_today"] == limit
