"""Differential privacy: the Laplace mechanism, and the ε spent per grant over its life.

Noise comes from ``secrets.SystemRandom`` (the OS CSPRNG, ``os.urandom``), never from a
seedable generator: a Laplace(b) draw is the difference of two Exp(1/b) draws. Outputs
are rounded (counts to integers, sums and averages to cents), which also blurs the
low-order bits that make naive floating-point Laplace samplers leak (Mironov 2012).

Every noisy aggregate spends the ε its decision names before the query runs. The spend
is one conditional ``UPDATE`` (``spent + ε <= total``), so concurrent requests on any
number of gateway workers never overshoot the grant's ``epsilon_total``: the database
serializes them (a row lock on PostgreSQL, the write lock on SQLite). ε is stored in
micro-units (integers), rounded up, so repeated spends never drift below the truth.

A spend is not refunded when the query then fails: the budget errs on the side of the
people in the data.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from gateway import state
from gateway.errors import Forbidden, Unavailable

MICRO = 1_000_000
_rng = secrets.SystemRandom()

privacy_budget = sa.Table(
    "privacy_budget",
    state.metadata,
    sa.Column("budget_key", sa.String(160), primary_key=True),
    sa.Column("spent_micro", sa.BigInteger, nullable=False),
    sa.Column("requests", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Budget:
    """ε spent so far under one key (a grant id), and the total allowed (None: no cap)."""

    key: str
    spent: float
    total: float | None

    @property
    def remaining(self) -> float | None:
        return None if self.total is None else max(0.0, self.total - self.spent)

    def to_json(self) -> dict[str, float | None]:
        return {"spent": self.spent, "total": self.total, "remaining": self.remaining}


def laplace(scale: float) -> float:
    """One draw of Laplace(0, ``scale``)."""
    return _rng.expovariate(1 / scale) - _rng.expovariate(1 / scale)


def noisy_measure(op: str, total: Any, count: Any, bounds: tuple[float, float],
                  share: float) -> float:
    """A noisy ``sum`` (sensitivity max(|low|, |high|) of the clamped values) or ``avg``
    (noisy sum over a noisy non-null count, clamped back into the bounds), each statistic
    spending ``share`` of ε."""
    low, high = bounds
    noisy_sum = float(total or 0) + laplace(max(abs(low), abs(high)) / share)
    if op == "sum":
        return round(noisy_sum, 2)
    noisy_count = float(count or 0) + laplace(1 / share)
    return round(min(high, max(low, noisy_sum / max(1.0, noisy_count))), 2)


def to_micro(epsilon: float) -> int:
    """ε in micro-units, rounded up (a spend is never recorded as less than it was)."""
    return math.ceil(round(epsilon * MICRO, 3))


def spent(engine: sa.Engine, key: str, total: float | None = None) -> Budget:
    """The budget under ``key`` without spending."""
    with engine.connect() as conn:
        value = conn.execute(sa.select(privacy_budget.c.spent_micro)
                             .where(privacy_budget.c.budget_key == key)).scalar()
    return Budget(key, (value or 0) / MICRO, total)


def spend(engine: sa.Engine, key: str, epsilon: float, total: float | None) -> Budget:
    """Spend ``epsilon`` under ``key`` unless that would pass ``total``; raise 403
    ``privacy_budget_exhausted`` then (nothing is spent)."""
    if not epsilon > 0:
        raise ValueError("epsilon must be positive")
    try:
        return _spend(engine, key, epsilon, total)
    except sa.exc.SQLAlchemyError as exc:
        raise Unavailable(f"privacy budget unavailable ({type(exc).__name__})",
                          code="budget_unavailable") from None


def _spend(engine: sa.Engine, key: str, epsilon: float, total: float | None) -> Budget:
    amount = to_micro(epsilon)
    cap = None if total is None else math.floor(round(total * MICRO, 3))
    t = privacy_budget
    for _ in range(3):
        now = dt.datetime.now(dt.UTC)
        with engine.begin() as conn:
            stmt = (sa.update(t).where(t.c.budget_key == key)
                    .values(spent_micro=t.c.spent_micro + amount, requests=t.c.requests + 1,
                            updated_at=now))
            if cap is not None:
                stmt = stmt.where(t.c.spent_micro + amount <= cap)
            if conn.execute(stmt).rowcount == 1:
                value = conn.execute(sa.select(t.c.spent_micro)
                                     .where(t.c.budget_key == key)).scalar_one()
                return Budget(key, value / MICRO, total)
            current = conn.execute(sa.select(t.c.spent_micro)
                                   .where(t.c.budget_key == key)).scalar()
        if current is not None:
            raise Forbidden(
                f"the privacy budget of {key} is exhausted: spent {current / MICRO:g} of "
                f"{total or 0:g}, this request needs {epsilon:g}",
                code="privacy_budget_exhausted")
        try:  # first spend under this key: create the row, then spend in the loop
            with engine.begin() as conn:
                conn.execute(sa.insert(t).values(budget_key=key, spent_micro=0, requests=0,
                                                 updated_at=now))
        except sa.exc.IntegrityError:
            pass  # another worker created it first
    raise Unavailable("privacy budget could not be updated", code="budget_unavailable")
