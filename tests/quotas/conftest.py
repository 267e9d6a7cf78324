"""Quota fixtures: every test runs on SQLite, on the real PostgreSQL and on the real Redis.
A missing server FAILS the run with a message (never a silent skip)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from gateway import state
from gateway.quota_redis import RedisQuotas
from gateway.quotas import DbQuotas, QuotaCounter
from tests.conftest import pg_schema, require_server

REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

Factory = Callable[[], QuotaCounter]


@contextmanager
def redis_prefix() -> Iterator[str]:
    """A unique key prefix on the real Redis; only its keys are deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({type(exc).__name__}). Start it "
                    f"or point the test at one with GATEWAY_TEST_REDIS_URL.", pytrace=False)
    prefix = "pgw_t_" + secrets.token_hex(4)
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix + ":*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@contextmanager
def state_engine(kind: str, tmp_path: Path) -> Iterator[sa.Engine]:
    """A state database with the full schema: SQLite file or a fresh PostgreSQL schema."""
    if kind == "sqlite":
        engine = state.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
        state.metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    with pg_schema() as url:
        require_server(url, "PostgreSQL").dispose()
        engine = state.make_engine(url)
        state.metadata.create_all(engine)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        "redis"])
def counters(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """A factory of counter instances sharing one backend (each call: another worker)."""
    if request.param == "redis":
        with redis_prefix() as prefix:
            made: list[RedisQuotas] = []

            def make_redis() -> QuotaCounter:
                made.append(RedisQuotas(REDIS_URL, prefix=prefix))
                return made[-1]

            yield make_redis
            for q in made:
                q.close()
        return
    with state_engine(request.param, tmp_path) as engine:
        yield lambda: DbQuotas(engine)
