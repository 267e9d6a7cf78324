"""A counter backend that cannot answer refuses the request (503 quota_unavailable)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway import state
from gateway.errors import Unavailable
from gateway.quota_redis import RedisQuotas
from gateway.quotas import DbQuotas, QuotaCounter, build_quota_counter

NOW = dt.datetime(2026, 3, 2, 10, 15, 20, tzinfo=dt.UTC)


def _down(kind: str, tmp_path: Path) -> QuotaCounter:
    if kind == "redis":
        return RedisQuotas("redis://127.0.0.1:1/0", timeout_s=0.5)  # nothing listens there
    return DbQuotas(state.make_engine(f"sqlite:///{tmp_path / 'missing' / 'state.db'}"))


@pytest.mark.parametrize("kind", ["redis", "db"])
def test_backend_down_fails_closed(kind: str, tmp_path: Path) -> None:
    q = _down(kind, tmp_path)
    for call in (lambda: q.admit("g1", {"rows_per_day": 5}, now=NOW),
                 lambda: q.usage("g1", NOW)):
        with pytest.raises(Unavailable) as exc:
            call()
        assert (exc.value.status_code, exc.value.code) == (503, "quota_unavailable")


def test_settle_on_a_dead_backend_keeps_the_reservation(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    engine = state.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    state.metadata.create_all(engine)
    q = DbQuotas(engine)
    a = q.admit("g1", {"rows_per_day": 10}, now=NOW, requested_rows=10)
    engine.dispose()
    (tmp_path / "state.db").rename(tmp_path / "gone.db")
    (tmp_path / "state.db").mkdir()  # the path now refuses to open as a database
    a.settle(0)  # logs, never raises: it runs after the response
    assert a.settled
    assert "10 rows stay reserved" in caplog.text


def test_build_picks_redis_when_configured(tmp_path: Path) -> None:
    engine = state.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    assert isinstance(build_quota_counter(None, engine), DbQuotas)
    assert isinstance(build_quota_counter("redis://127.0.0.1:6379/15", engine), RedisQuotas)
