"""The pure scoring functions and the window arguments, without a database."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.auditlog.anomalies import examined_window, parse_kinds
from gateway.auditlog.anomaly_scoring import find_bursts, mask_address, volume_baseline
from gateway.errors import BadRequest

NOW = dt.datetime(2026, 6, 1, 16, tzinfo=dt.UTC)


@pytest.mark.parametrize(("history", "observed", "flags"), [
    ([100] * 20, 130, False),         # flat history: the 2× median floor, not MAD = 0
    ([100] * 20, 201, True),
    ([5] * 20, 24, False),            # tiny volumes: the absolute excess floor (100)
    ([5] * 20, 106, True),
    ([1000, 1400, 600, 1200, 800, 1100, 900] * 3, 1999, False),
    ([1000, 1400, 600, 1200, 800, 1100, 900] * 3, 3000, True),
    ([10, 10, 10, 10, 10, 10, 5000], 4000, True),  # one huge past day lifts nothing
])
def test_success_volume_baseline(history: list[int], observed: int, flags: bool) -> None:
    base = volume_baseline(history, k=5.0, min_ratio=2.0, min_excess=100)
    assert (observed > base.threshold) is flags


def test_success_volume_baseline_numbers() -> None:
    base = volume_baseline([8, 10, 12, 10, 10], k=5.0, min_ratio=2.0, min_excess=0)
    assert (base.median, base.mad) == (10, 0)
    assert base.threshold == 20
    wide = volume_baseline([0, 10, 20, 30, 40], k=5.0, min_ratio=1.0, min_excess=0)
    assert (wide.median, wide.mad) == (20, 10)
    assert wide.threshold == pytest.approx(20 + 5 * 1.4826 * 10)


@pytest.mark.parametrize(("denials", "decisions", "expected"), [
    ([float(s) for s in range(0, 100, 10)], None, [(0, 10)]),        # 10 in 100 s
    ([float(s) for s in range(0, 36000, 3600)], None, []),           # one an hour
    ([float(s) for s in range(0, 90, 10)], None, []),                # 9: one short
    ([float(s) for s in range(0, 100, 10)], [float(s) for s in range(100)], []),  # ratio
    ([*map(float, range(10)), *map(float, range(5000, 5010))], None, [(0, 10), (10, 20)]),
])
def test_success_find_bursts(denials: list[float], decisions: list[float] | None,
                             expected: list[tuple[int, int]]) -> None:
    all_decisions = sorted(decisions if decisions is not None else denials)
    assert find_bursts(denials, all_decisions, span_s=600, min_denials=10,
                       min_ratio=0.5) == expected


@pytest.mark.parametrize(("address", "masked"), [
    ("10.1.2.3", "10.1.*.*"),
    ("203.0.113.77", "203.0.*.*"),
    ("2001:db8::1", "2001:0db8:*"),
    ("testclient", "(not an IP address)"),
])
def test_success_mask_address(address: str, masked: str) -> None:
    assert mask_address(address) == masked


def test_success_window_defaults_to_the_last_day() -> None:
    w = examined_window(NOW)
    assert (w.until - w.since, w.since - w.history_since) == (dt.timedelta(days=1),
                                                              dt.timedelta(days=30))
    naive = examined_window(NOW, since=dt.datetime(2026, 5, 30, 16), history_days=7)
    assert naive.since == dt.datetime(2026, 5, 30, 16, tzinfo=dt.UTC)
    assert naive.to_json()["days"] == 2 and naive.to_json()["history_days"] == 7


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"window_days": 0}, "bad_window"),
    ({"window_days": 32}, "bad_window"),
    ({"since": NOW}, "bad_window"),
    ({"since": NOW + dt.timedelta(hours=1)}, "bad_window"),
    ({"since": NOW - dt.timedelta(days=40)}, "bad_window"),
    ({"since": NOW - dt.timedelta(days=1), "window_days": 1}, "bad_window"),
    ({"history_days": 0}, "bad_history"),
    ({"history_days": 366}, "bad_history"),
])
def test_fail_bad_window(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(BadRequest) as exc:
        examined_window(NOW, **kwargs)  # type: ignore[arg-type]
    assert exc.value.code == code


def test_fail_unknown_kind() -> None:
    assert parse_kinds(None) == parse_kinds(["volume", "denial_burst", "unusual_hour",
                                             "new_client_address", "verify_enumeration"])
    with pytest.raises(BadRequest) as exc:
        parse_kinds(["volume", "vibes"])
    assert exc.value.code == "bad_kind" and "vibes" in exc.value.message
