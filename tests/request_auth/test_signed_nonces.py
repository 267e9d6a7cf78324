"""Nonce stores (database and Redis): each (key, nonce) accepted once, shared by workers,
forgotten after its TTL; a store that cannot answer refuses (503)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from gateway import state
from gateway.errors import Unavailable
from gateway.nonces import DbNonces, NonceStore, RedisNonces, build_nonce_store, request_nonces
from tests.quotas.conftest import REDIS_URL, redis_prefix
from tests.request_auth.conftest import Env

NOW = dt.datetime(2026, 3, 2, 10, 15, 20, tzinfo=dt.UTC)


def test_claim_once_per_key(env: Env) -> None:
    worker1, worker2 = env.nonces(), env.nonces()
    assert worker1.claim("hk_a", "nonce-0000000000001", now=NOW, ttl_s=600)
    assert not worker2.claim("hk_a", "nonce-0000000000001", now=NOW, ttl_s=600)
    assert not worker1.claim("hk_a", "nonce-0000000000001", now=NOW, ttl_s=600)
    assert worker2.claim("hk_b", "nonce-0000000000001", now=NOW, ttl_s=600)


def test_parallel_claims_one_winner(env: Env) -> None:
    start = threading.Barrier(16)

    def claim(_: int) -> bool:
        store = env.nonces()
        start.wait()
        return store.claim("hk_a", "raced-nonce-00000001", now=NOW, ttl_s=600)

    with ThreadPoolExecutor(16) as pool:
        assert sum(pool.map(claim, range(16))) == 1


def test_db_nonces_expire_and_purge(tmp_path: Path) -> None:
    engine = state.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    state.metadata.create_all(engine)
    w1, w2 = DbNonces(engine), DbNonces(engine, purge_every_s=10**9)
    assert w1.claim("hk_a", "nonce-0000000000001", now=NOW, ttl_s=10)
    assert w1.claim("hk_a", "nonce-0000000000002", now=NOW, ttl_s=1000)
    later = NOW + dt.timedelta(seconds=11)
    assert not w2.claim("hk_a", "nonce-0000000000002", now=later, ttl_s=10)
    assert w2.claim("hk_a", "nonce-0000000000001", now=later, ttl_s=10)  # expired: reusable
    assert w1.purge(later + dt.timedelta(seconds=11)) == 1  # the re-claimed first nonce
    with engine.connect() as conn:
        left = conn.execute(sa.select(request_nonces.c.nonce)).scalars().all()
    assert left == ["nonce-0000000000002"]


def test_redis_nonces_carry_their_ttl() -> None:
    with redis_prefix() as prefix:
        store = RedisNonces(REDIS_URL, prefix=prefix)
        assert store.claim("hk_a", "nonce-0000000000001", now=NOW, ttl_s=601)
        client = redis.Redis.from_url(REDIS_URL)
        assert 590 < client.ttl(f"{prefix}:hk_a:nonce-0000000000001") <= 601
        client.close()
        store.close()


@pytest.mark.parametrize("kind", ["redis", "db"])
def test_store_down_fails_closed(kind: str, tmp_path: Path) -> None:
    store: NonceStore = (RedisNonces("redis://127.0.0.1:1/0", timeout_s=0.5) if kind == "redis"
                         else DbNonces(state.make_engine(
                             f"sqlite:///{tmp_path / 'missing' / 'state.db'}")))
    with pytest.raises(Unavailable) as exc:
        store.claim("hk_a", "nonce-0000000000001", now=NOW, ttl_s=600)
    assert (exc.value.status_code, exc.value.code) == (503, "nonce_unavailable")


def test_build_picks_redis_when_configured(tmp_path: Path) -> None:
    engine = state.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    assert isinstance(build_nonce_store(None, engine), DbNonces)
    assert isinstance(build_nonce_store(REDIS_URL, engine), RedisNonces)
