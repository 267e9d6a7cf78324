"""Each flag on synthetic histories written through the real audit log: one history that
must raise it and ones that must not (steady noise, weekly rhythm, a denial an hour, a
second known address, verifications that mostly match)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.auditlog import Anomaly, AnomalyConfig, detect_anomalies, search, verify_log
from tests.auditlog.helpers import engine_for

from .helpers import END, History, at, daily, weekday

Build = Callable[[History], None]
MINUTE = dt.timedelta(minutes=1)


def detect(engine: sa.Engine, kind: str, **kw: object) -> list[Anomaly]:
    return detect_anomalies(engine, now=END, kinds=[kind], **kw)  # type: ignore[arg-type]


# --- volume ------------------------------------------------------------------------------


def _noisy_history(h: History) -> None:
    rnd = random.Random(7)
    for d in range(1, 31):
        for hour in (9, 11, 14, 16):
            h.add(at(d, hour), rows=rnd.randint(200, 300))


def _vol_noisy_spike(h: History) -> None:
    _noisy_history(h)
    for hour in (9, 11, 14, 16):
        h.add(at(0, hour), rows=1250)


def _vol_noisy_high_day(h: History) -> None:
    _noisy_history(h)
    for hour in (9, 11, 14, 16, 17):
        h.add(at(0, hour), rows=300)  # 1,500: the busiest day yet, not far above


def _vol_flat_130(h: History) -> None:
    daily(h, range(1, 31), (10,), rows=100)
    h.add(at(0, 10), rows=130)


def _vol_weekly(h: History) -> None:
    for d in range(1, 31):
        for hour in (9, 11, 14, 16) if weekday(d) else (10,):
            h.add(at(d, hour), rows=250 if weekday(d) else 100)
    daily(h, range(1), (9, 11, 14, 16), rows=275)  # Monday after a quiet weekend


def _vol_short_history(h: History) -> None:
    daily(h, range(1, 7), (10,), rows=100)
    h.add(at(0, 10), rows=5000)


def _vol_many_requests(h: History) -> None:
    daily(h, range(1, 31), (9, 10, 11, 14, 15), rows=10)
    h.add(at(0, 9), n=60, every=MINUTE, rows=1)


@pytest.mark.parametrize(("build", "measures"), [
    (_vol_noisy_spike, {"rows"}),
    (_vol_many_requests, {"requests"}),
    (_vol_noisy_high_day, set()),
    (_vol_flat_130, set()),
    (_vol_weekly, set()),
    (_vol_short_history, set()),
])
def test_volume(engine: sa.Engine, build: Build, measures: set[str]) -> None:
    h = History()
    build(h)
    written = h.write(engine)
    flags = detect(engine, "volume")
    assert {a.evidence["measure"] for a in flags} == measures
    for a in flags:
        assert a.grant_id == "g-1" and a.operator_id == "op-1" and a.dataset == "huji_renkou"
        assert a.evidence["observed"] > a.evidence["threshold"]
        today = [w for w in written if w.req.time >= END - dt.timedelta(days=1)]
        wanted = [w.release_seq if a.evidence["measure"] == "rows" else w.decision_seq
                  for w in today]
        assert list(a.entries) == wanted[:50] and a.entries_total == len(wanted)


def test_volume_numbers(engine: sa.Engine) -> None:
    h = History()
    _vol_noisy_spike(h)
    h.write(engine)
    (a,) = detect(engine, "volume")
    ev = a.evidence
    assert ev["observed"] == 5000 and ev["history_active_days"] == 30
    assert 900 <= ev["baseline_median"] <= 1100 and ev["baseline_mad"] > 0
    assert ev["threshold"] == pytest.approx(max(
        ev["baseline_median"] + 5 * 1.4826 * ev["baseline_mad"], 2 * ev["baseline_median"]))
    assert a.severity == "high" and "5000 rows" in a.message


# --- denial bursts ---------------------------------------------------------------------------


def _burst(h: History) -> None:
    h.add(at(0, 10), n=3, every=MINUTE)
    h.add(at(0, 10, 3), n=15, every=dt.timedelta(seconds=20), allow=False)


def _burst_without_grant(h: History) -> None:
    h.add(at(0, 22), n=12, every=dt.timedelta(seconds=15), allow=False, grant=None,
          operator="op-2", key="k-2", dataset="qiye_dengji")


def _denial_every_hour(h: History) -> None:
    h.add(at(0, 0, 30), n=24, every=dt.timedelta(hours=1), allow=False)
    h.add(at(0, 0, 40), n=24, every=dt.timedelta(hours=1))


def _denials_among_many_allowed(h: History) -> None:
    h.add(at(0, 10), n=200, every=dt.timedelta(seconds=3))
    h.add(at(0, 10, 0, 1), n=15, every=dt.timedelta(seconds=30), allow=False)


@pytest.mark.parametrize(("build", "subjects"), [
    (_burst, [("g-1", "op-1", 15)]),
    (_burst_without_grant, [(None, "op-2", 12)]),
    (_denial_every_hour, []),
    (_denials_among_many_allowed, []),
])
def test_denial_burst(engine: sa.Engine, build: Build,
                      subjects: list[tuple[str | None, str, int]]) -> None:
    h = History()
    build(h)
    written = h.write(engine)
    flags = detect(engine, "denial_burst")
    assert [(a.grant_id, a.operator_id, a.entries_total) for a in flags] == subjects
    for a in flags:
        denied = [w.decision_seq for w in written if not w.req.allow]
        assert list(a.entries) == denied
        assert a.evidence["deny_ratio"] >= 0.5 and a.evidence["max_burst_denials"] >= 10


# --- unusual hours ---------------------------------------------------------------------------


def _office_hours(h: History, days: range = range(1, 31)) -> None:
    daily(h, [d for d in days if weekday(d)], (9, 10, 11, 14, 15, 16, 17))


def _night_access(h: History) -> None:
    _office_hours(h)
    h.add(at(0, 10))
    h.add(at(0, 3, 12), n=2, every=MINUTE)


def _monday_morning(h: History) -> None:
    _office_hours(h)
    h.add(at(0, 9, 5), n=3, every=MINUTE)  # first hours back after the weekend


def _night_without_history(h: History) -> None:
    _office_hours(h, range(1, 4))
    h.add(at(0, 3, 12))


@pytest.mark.parametrize(("build", "hours"), [
    (_night_access, [[3]]),
    (_monday_morning, []),
    (_night_without_history, []),
])
def test_unusual_hour(engine: sa.Engine, build: Build, hours: list[list[int]]) -> None:
    h = History()
    build(h)
    written = h.write(engine)
    flags = detect(engine, "unusual_hour")
    assert [a.evidence["hours"] for a in flags] == hours
    for a in flags:
        night = [w.decision_seq for w in written if w.req.time.hour == 3]
        assert list(a.entries) == night and a.evidence["timezone"] == "Asia/Shanghai"
        assert a.evidence["history_hours"] == [9, 10, 11, 14, 15, 16, 17]


# --- new client address --------------------------------------------------------------------


def _new_address(h: History) -> None:
    daily(h, range(1, 11), (10, 15))
    h.add(at(0, 10), n=2, every=MINUTE, ip="203.0.113.77")


def _second_known_address(h: History) -> None:
    daily(h, range(1, 11), (10,))
    daily(h, range(1, 11), (15,), ip="10.1.2.4")
    h.add(at(0, 10), ip="10.1.2.4")


def _new_key(h: History) -> None:
    daily(h, range(1, 3), (10,), key="k-new")
    h.add(at(0, 10), ip="203.0.113.77", key="k-new")


def _same_address_other_grant(h: History) -> None:
    daily(h, range(1, 11), (10,), grant="g-2", ip="10.9.9.9")
    daily(h, range(1, 11), (15,))
    h.add(at(0, 10), ip="10.9.9.9")  # the key's address, first time under g-1


@pytest.mark.parametrize(("build", "flagged"), [
    (_new_address, 2),
    (_second_known_address, 0),
    (_new_key, 0),
    (_same_address_other_grant, 0),
])
def test_new_client_address(engine: sa.Engine, build: Build, flagged: int) -> None:
    h = History()
    build(h)
    written = h.write(engine)
    flags = detect(engine, "new_client_address")
    assert sum(a.entries_total for a in flags) == flagged
    for a in flags:
        assert (a.key_id, a.grant_id) == ("k-1", "g-1")
        assert a.evidence["addresses"] == [{"address": "203.0.*.*", "requests": 2,
                                            "first_seq": a.entries[0]}]
        assert "203.0.113.77" not in a.message + repr(a.evidence)
        assert list(a.entries) == [w.decision_seq for w in written
                                   if w.req.ip == "203.0.113.77"]


# --- verify enumeration ----------------------------------------------------------------------


def _enumeration(h: History) -> None:
    h.add(at(0, 13), n=40, every=dt.timedelta(seconds=7), action="verify", match=False)
    h.add(at(0, 14), n=4, every=MINUTE, action="verify")


def _mostly_matches(h: History) -> None:
    h.add(at(0, 13), n=40, every=dt.timedelta(seconds=7), action="verify")
    h.add(at(0, 14), n=8, every=MINUTE, action="verify", match=False)


def _few_no_matches(h: History) -> None:
    h.add(at(0, 13), n=12, every=MINUTE, action="verify", match=False)


@pytest.mark.parametrize(("build", "no_match"), [
    (_enumeration, [40]),
    (_mostly_matches, []),
    (_few_no_matches, []),
])
def test_verify_enumeration(engine: sa.Engine, build: Build, no_match: list[int]) -> None:
    h = History()
    build(h)
    written = h.write(engine)
    flags = detect(engine, "verify_enumeration")
    assert [a.evidence["no_match"] for a in flags] == no_match
    for a in flags:
        assert a.evidence["answers"] == 44 and a.severity == "medium"
        assert list(a.entries) == [w.release_seq for w in written if not w.req.match][:50]


# --- everything at once, both backends -------------------------------------------------------


def _quiet_grant(h: History) -> None:
    """A month of ordinary use: office hours, two addresses, a denial now and then, mostly
    matching verifications, the window day like the others."""
    rnd = random.Random(11)
    for d in range(31):
        if not weekday(d):
            continue
        for hour in (9, 10, 11, 14, 15, 16):
            ip = "10.1.2.3" if hour < 12 else "10.1.2.4"
            h.add(at(d, hour, rnd.randint(0, 59)), rows=rnd.randint(80, 120), ip=ip)
        h.add(at(d, 12, 30), allow=False)
        h.add(at(d, 13), n=10, every=MINUTE, action="verify", match=rnd.random() > 0.2,
              ip="10.1.2.4")


def _suspicious_grant(h: History) -> None:
    daily(h, range(1, 31), (10, 15), grant="g-bad", operator="op-9", key="k-9", rows=100,
          dataset="shebao_jiaofei")
    kw = {"grant": "g-bad", "operator": "op-9", "key": "k-9", "dataset": "shebao_jiaofei",
          "ip": "198.51.100.23"}
    h.add(at(0, 2), n=20, every=dt.timedelta(seconds=10), allow=False, **kw)
    h.add(at(0, 2, 5), n=5, every=MINUTE, rows=1000, **kw)
    h.add(at(0, 2, 30), n=35, every=dt.timedelta(seconds=5), action="verify", match=False,
          **kw)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with engine_for(str(request.param), tmp_path) as e:
        yield e


def test_all_flags_for_one_grant_none_for_the_other(any_engine: sa.Engine) -> None:
    h = History()
    _quiet_grant(h)
    _suspicious_grant(h)
    h.write(any_engine)
    assert verify_log(any_engine, None).ok  # a real Merkle log, not rows written by hand
    flags = detect_anomalies(any_engine, now=END)
    assert {a.grant_id for a in flags} == {"g-bad"}
    assert sorted(a.kind for a in flags) == [
        "denial_burst", "new_client_address", "unusual_hour", "verify_enumeration", "volume",
        "volume"]
    assert {a.evidence["measure"] for a in flags if a.kind == "volume"} == {"rows", "requests"}
    assert all(a.operator_id == "op-9" and a.dataset == "shebao_jiaofei" for a in flags)
    # Each flag's entries are entries of that grant, found again by an auditor's search.
    found = {e.seq for e in search(any_engine, grant_id="g-bad", limit=1000,
                                   since=END - dt.timedelta(days=1)).entries}
    assert all(set(a.entries) <= found for a in flags)
    # Paging through the log in small batches sees the same thing.
    small = detect_anomalies(any_engine, now=END, config=AnomalyConfig(batch_size=7))
    assert [a.to_json() for a in small] == [a.to_json() for a in flags]
    assert detect_anomalies(any_engine, now=END, grant_id="g-1") == []
    # A window a week earlier holds nothing unusual for either grant.
    assert detect_anomalies(any_engine, now=END - dt.timedelta(days=7)) == []


def test_entries_are_capped_with_a_total(engine: sa.Engine) -> None:
    h = History()
    h.add(at(0, 13), n=95, every=dt.timedelta(seconds=7), action="verify", match=False)
    written = h.write(engine)
    (a,) = detect(engine, "verify_enumeration")
    assert a.entries_total == 95 and len(a.entries) == 50 and a.severity == "high"
    assert list(a.entries) == [w.release_seq for w in written][:50]
