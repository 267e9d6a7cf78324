"""Signed-request fixtures: key table on SQLite and PostgreSQL, nonces in the database and
in Redis. Missing servers FAIL the run (see tests/conftest.py), never skip."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

import gateway.request_auth  # noqa: F401  (registers signing_keys on the metadata)
from gateway.auth import create_principal
from gateway.nonces import DbNonces, NonceStore, RedisNonces
from keys import InMemoryKeyStore, KeyRing, MasterKey
from tests.quotas.conftest import REDIS_URL, redis_prefix, state_engine


@dataclass
class Env:
    engine: sa.Engine
    ring: KeyRing
    nonces: Callable[[], NonceStore]  # each call: another worker's store instance


def _ring() -> KeyRing:
    return KeyRing.open(InMemoryKeyStore(), MasterKey.generate())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        "sqlite+redis"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """Keys in SQLite or PostgreSQL; nonces in that database, or in Redis."""
    db = request.param.split("+")[0]
    with state_engine(db, tmp_path) as engine:
        create_principal(engine, "op1", "Operator One", roles=["operator"])
        create_principal(engine, "op2", "Operator Two", roles=["operator", "reviewer"])
        if request.param.endswith("redis"):
            with redis_prefix() as prefix:
                made: list[RedisNonces] = []

                def make() -> NonceStore:
                    made.append(RedisNonces(REDIS_URL, prefix=prefix))
                    return made[-1]

                yield Env(engine, _ring(), make)
                for n in made:
                    n.close()
        else:
            yield Env(engine, _ring(), lambda: DbNonces(engine))
