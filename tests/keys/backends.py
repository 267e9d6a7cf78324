"""Storage backends the key-ring tests run on (used by conftest.py's ``backend`` fixture)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from keys import KeyRing, KeyStore, MasterKey, SqlKeyStore, create_tables
from keys.store import key_ring


@dataclass
class Backend:
    """One storage backend. ``new_store`` opens another handle on the same storage, as a
    second replica or a restarted process would; ``raw`` returns every stored byte."""

    name: str
    new_store: Callable[[], KeyStore]
    raw: Callable[[], bytes]
    engine: sa.Engine | None = None

    def ring(self, master: MasterKey) -> KeyRing:
        """A ring on a fresh handle (a new process, as far as the ring can tell)."""
        return KeyRing.open(self.new_store(), master)


def _sql_rows(engine: sa.Engine) -> bytes:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(key_ring)).all()
    return b"".join(v if isinstance(v, bytes) else str(v).encode()
                    for row in rows for v in row)


def sql_backend(name: str, url: str,
                file_bytes: Callable[[], bytes] | None) -> Iterator[Backend]:
    """A backend on the database at ``url`` (tables created; engines disposed after)."""
    engines: list[sa.Engine] = []

    def new_store() -> KeyStore:
        engine = sa.create_engine(url)
        engines.append(engine)
        return SqlKeyStore(engine)

    admin = sa.create_engine(url)
    create_tables(admin)
    try:
        yield Backend(name, new_store,
                      lambda: (file_bytes() if file_bytes else b"") + _sql_rows(admin), admin)
    finally:
        for engine in [*engines, admin]:
            engine.dispose()
