"""The ε budget and the verification rate counter under concurrent workers, on SQLite and
on the real PostgreSQL server; and the Laplace sampler's distribution."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway import state
from gateway.errors import Forbidden, TooManyRequests
from gateway.privacy_budget import laplace, privacy_budget, spend, spent
from gateway.verification import take_call, verify_rate
from tests.conftest import pg_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        eng = state.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
        privacy_budget.create(eng)
        verify_rate.create(eng)
        yield eng
        eng.dispose()
        return
    with pg_schema() as url:
        eng = state.make_engine(url)
        privacy_budget.create(eng)
        verify_rate.create(eng)
        yield eng
        eng.dispose()


def _parallel(n: int, fn: Callable[[], None]) -> int:
    """Run ``fn`` n times on 8 threads; how many calls succeeded."""
    def one(_: int) -> bool:
        try:
            fn()
            return True
        except (Forbidden, TooManyRequests):
            return False

    with ThreadPoolExecutor(8) as pool:
        return sum(pool.map(one, range(n)))


def test_budget_never_overshoots(engine: sa.Engine) -> None:
    ok = _parallel(40, lambda: spend(engine, "g-1", 0.1, 2.0) and None)
    assert ok == 20
    assert spent(engine, "g-1").spent == pytest.approx(2.0)
    with pytest.raises(Forbidden) as err:
        spend(engine, "g-1", 0.1, 2.0)
    assert err.value.code == "privacy_budget_exhausted"
    assert spent(engine, "g-2").spent == 0  # budgets are per grant


def test_budget_without_total_only_records(engine: sa.Engine) -> None:
    for _ in range(3):
        spend(engine, "g-open", 0.5, None)
    assert spent(engine, "g-open").spent == pytest.approx(1.5)
    assert spent(engine, "g-open").remaining is None


def test_rate_counter_never_overshoots(engine: sa.Engine) -> None:
    now = 1_800_000_000.0 + 5  # 5 s into a window
    assert _parallel(30, lambda: take_call(engine, "g-1", 7, now)) == 7
    with pytest.raises(TooManyRequests) as err:
        take_call(engine, "g-1", 7, now + 10)
    assert err.value.retry_after == 45
    take_call(engine, "g-1", 7, now + 60)  # the next window starts afresh
    with pytest.raises(TooManyRequests):
        take_call(engine, "g-zero", 0, now)


def test_laplace_distribution() -> None:
    draws = [laplace(2.0) for _ in range(20000)]
    assert abs(statistics.fmean(draws)) < 0.1
    assert statistics.fmean(abs(x) for x in draws) == pytest.approx(2.0, abs=0.1)
