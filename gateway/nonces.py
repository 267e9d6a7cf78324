"""The replay store for signed requests: a nonce is accepted once per signing key.

A nonce must be remembered only while its request's timestamp is inside the clock-skew
window; after that the request is refused as stale anyway. So every claim carries a TTL
and the stores forget on their own: Redis by ``SET NX EX``, the database by purging expired
rows now and then. Both are shared by every gateway worker.

A store that cannot answer refuses the request: ``Unavailable(code="nonce_unavailable")``.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from typing import Protocol

import redis
import sqlalchemy as sa

from gateway import state
from gateway.errors import Unavailable

PURGE_EVERY_S = 60

request_nonces = sa.Table(
    "request_nonces",
    state.metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
)


class NonceStore(Protocol):
    """Remembers (signing key, nonce) pairs until they expire."""

    def claim(self, key_id: str, nonce: str, *, now: dt.datetime, ttl_s: int) -> bool:
        """True the first time this pair is seen within ``ttl_s``; False for a replay."""
        ...


def _unavailable() -> Unavailable:
    return Unavailable("replay protection unavailable; request refused",
                       code="nonce_unavailable")


class RedisNonces:
    """Nonces in Redis: ``SET <prefix>:<key id>:<nonce> 1 NX EX ttl``."""

    def __init__(self, url: str, *, prefix: str = "pgw:nonce", timeout_s: float = 2.0) -> None:
        self.prefix = prefix
        self._redis = redis.Redis.from_url(url, socket_timeout=timeout_s,
                                           socket_connect_timeout=timeout_s)

    def __repr__(self) -> str:
        return f"RedisNonces(prefix={self.prefix!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()

    def claim(self, key_id: str, nonce: str, *, now: dt.datetime, ttl_s: int) -> bool:
        """See :class:`NonceStore`. TTLs run on the Redis clock."""
        try:
            ok = self._redis.set(f"{self.prefix}:{key_id}:{nonce}", b"1", nx=True,
                                 ex=max(1, ttl_s))
        except redis.RedisError as exc:
            raise _unavailable() from exc
        return bool(ok)


class DbNonces:
    """Nonces in the state database: the primary key (key id, nonce) makes a second insert
    fail. Expired rows are purged by whichever worker claims first after ``PURGE_EVERY_S``."""

    def __init__(self, engine: sa.Engine, *, purge_every_s: int = PURGE_EVERY_S) -> None:
        self.engine = engine
        self.purge_every_s = purge_every_s
        self._last_purge = -math.inf
        self._lock = threading.Lock()

    def claim(self, key_id: str, nonce: str, *, now: dt.datetime, ttl_s: int) -> bool:
        """See :class:`NonceStore`."""
        ts = math.floor(now.timestamp())
        row = {"key_id": key_id, "nonce": nonce, "expires_at": ts + max(1, ttl_s)}
        c = request_nonces.c
        try:
            self._maybe_purge(ts)
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.insert(request_nonces).values(**row))
                return True
            except sa.exc.IntegrityError:
                pass
            # Seen before. Only an expired, not yet purged row may be taken over; the
            # conditional delete lets exactly one of several racing workers win it.
            with self.engine.begin() as conn:
                gone = conn.execute(sa.delete(request_nonces).where(
                    c.key_id == key_id, c.nonce == nonce, c.expires_at <= ts)).rowcount
                if gone:
                    conn.execute(sa.insert(request_nonces).values(**row))
            return bool(gone)
        except sa.exc.IntegrityError:
            return False
        except sa.exc.SQLAlchemyError as exc:
            raise _unavailable() from exc

    def purge(self, now: dt.datetime) -> int:
        """Delete expired nonces; returns how many."""
        with self.engine.begin() as conn:
            res = conn.execute(sa.delete(request_nonces).where(
                request_nonces.c.expires_at <= math.floor(now.timestamp())))
        return int(res.rowcount or 0)

    def _maybe_purge(self, ts: int) -> None:
        with self._lock:
            if ts - self._last_purge < self.purge_every_s:
                return
            self._last_purge = ts
        self.purge(dt.datetime.fromtimestamp(ts, dt.UTC))


def build_nonce_store(redis_url: str | None, engine: sa.Engine) -> NonceStore:
    """Redis when ``GATEWAY_REDIS_URL`` is set, else the state database."""
    return RedisNonces(redis_url) if redis_url else DbNonces(engine)
