"""Key-ring fixtures: every ring test runs on the in-memory store, on SQLite and on the real
PostgreSQL server (no skipping: a missing server fails the run, see tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keys import InMemoryKeyStore, KeyRing, MasterKey
from tests.conftest import pg_schema
from tests.keys.backends import Backend, sql_backend


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres",
                                                         marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The same tests on each store."""
    if request.param == "memory":
        store = InMemoryKeyStore()
        yield Backend("memory", lambda: store,
                      lambda: b"".join(r.wrapped + (r.public_key or "").encode()
                                       for r in store.load()))
        return
    if request.param == "sqlite":
        db = tmp_path / "state.db"
        yield from sql_backend("sqlite", f"sqlite:///{db}", lambda: db.read_bytes())
        return
    with pg_schema() as url:
        yield from sql_backend("postgres", url, None)


@pytest.fixture
def master() -> MasterKey:
    """A fresh master key."""
    return MasterKey.generate()


@pytest.fixture
def ring(backend: Backend, master: MasterKey) -> KeyRing:
    """A freshly initialised ring on ``backend``."""
    return backend.ring(master)
