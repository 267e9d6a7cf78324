"""Where the ring's sealed records live: the ``KeyStore`` seam and its two implementations.

``SqlKeyStore`` keeps them in the gateway's state database (SQLite or PostgreSQL), in its
own ``key_ring`` table, shared by every gateway replica. The database enforces the ring's
invariants, so concurrent writers cannot break them whatever the application does:

- ``UNIQUE (purpose, version)``: two replicas rotating at once cannot both create v3; the
  loser gets :class:`KeyConflict` and the ring retries with the next version;
- a partial unique index on ``purpose WHERE status = 'primary'``: at most one primary per
  purpose. Demoting the old primary and inserting the new one happen in one transaction.

The partial index needs SQLite or PostgreSQL (MySQL/MariaDB have none; there only the
application keeps one primary): the state database is one of those two (DESIGN.md, "State
and scale").
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import threading
from typing import Protocol

import sqlalchemy as sa

from keys.errors import KeyConflict, KeyRingError, UnknownKey
from keys.records import KeyRecord, KeyStatus, utc

metadata = sa.MetaData()

key_ring = sa.Table(
    "key_ring",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("alg", sa.String(32), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("wrapped", sa.LargeBinary, nullable=False),  # sealed under the master key
    sa.Column("public_key", sa.Text, nullable=True),       # PEM, signing purposes only
    sa.UniqueConstraint("purpose", "version", name="uq_key_ring_purpose_version"),
    sa.CheckConstraint("status IN ('primary', 'active', 'retired')",
                       name="ck_key_ring_status"),
)
sa.Index("uq_key_ring_one_primary", key_ring.c.purpose, unique=True,
         sqlite_where=key_ring.c.status == "primary",
         postgresql_where=key_ring.c.status == "primary",
         # Elsewhere the WHERE would be dropped, leaving one row per purpose: no rotation.
         # SQLAlchemy accepts a tuple here (ddl.py checks for one); its stub says str.
         ).ddl_if(dialect=("sqlite", "postgresql"))  # type: ignore[arg-type]


def create_tables(engine: sa.Engine) -> None:
    """Create the ``key_ring`` table (and its indexes) if missing."""
    metadata.create_all(engine)


class KeyStore(Protocol):
    """Storage of sealed key records. Implementations enforce unique ids, unique
    (purpose, version) and at most one primary per purpose, atomically."""

    def load(self) -> builtins.list[KeyRecord]:
        """Every record, any status, ordered by purpose then version."""
        ...

    def add(self, record: KeyRecord) -> None:
        """Insert ``record``. If it is ``primary``, the purpose's current primary becomes
        ``active`` in the same transaction. :class:`KeyConflict` if the id or
        (purpose, version) exists, or another writer made a primary meanwhile."""
        ...

    def update_status(self, key_id: str, status: KeyStatus, *, expected: KeyStatus,
                      at: dt.datetime) -> None:
        """Compare-and-set the status of a non-primary transition (``active``/``retired``);
        :class:`UnknownKey` if absent, :class:`KeyConflict` if its status is not
        ``expected`` any more. Retiring stamps ``retired_at = at``."""
        ...


def _check_transition(status: KeyStatus) -> None:
    # A key becomes primary only by being added as one: that path demotes the old primary
    # in the same transaction, which a bare status update would not.
    if status is KeyStatus.PRIMARY:
        raise KeyConflict("a key becomes primary only through rotation")


class InMemoryKeyStore:
    """A ``KeyStore`` in a list, for tests and for ephemeral rings."""

    def __init__(self) -> None:
        self._records: list[KeyRecord] = []
        self._lock = threading.Lock()

    def load(self) -> builtins.list[KeyRecord]:
        """Every record, ordered by purpose then version."""
        with self._lock:
            return sorted(self._records, key=lambda r: (r.purpose, r.version))

    def add(self, record: KeyRecord) -> None:
        """Insert, demoting the purpose's primary if ``record`` is primary."""
        with self._lock:
            for r in self._records:
                if r.id == record.id or (r.purpose, r.version) == (record.purpose,
                                                                   record.version):
                    raise KeyConflict(f"key {record.id} ({record.purpose} "
                                      f"v{record.version}) already exists")
            if record.status is KeyStatus.PRIMARY:
                self._records = [
                    dataclasses.replace(r, status=KeyStatus.ACTIVE)
                    if r.purpose == record.purpose and r.status is KeyStatus.PRIMARY else r
                    for r in self._records]
            self._records.append(record)

    def update_status(self, key_id: str, status: KeyStatus, *, expected: KeyStatus,
                      at: dt.datetime) -> None:
        """Compare-and-set a record's status."""
        _check_transition(status)
        with self._lock:
            for i, r in enumerate(self._records):
                if r.id != key_id:
                    continue
                if r.status is not expected:
                    raise KeyConflict(f"key {key_id} is {r.status}, not {expected}")
                retired_at = at if status is KeyStatus.RETIRED else r.retired_at
                self._records[i] = dataclasses.replace(r, status=status,
                                                       retired_at=retired_at)
                return
        raise UnknownKey(f"no key {key_id!r}")


class SqlKeyStore:
    """A ``KeyStore`` in the ``key_ring`` table of a SQLAlchemy database."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def __repr__(self) -> str:
        return f"SqlKeyStore({self._engine.url.render_as_string(hide_password=True)!r})"

    def load(self) -> builtins.list[KeyRecord]:
        """Every record, ordered by purpose then version."""
        query = sa.select(key_ring).order_by(key_ring.c.purpose, key_ring.c.version)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).all()
        except sa.exc.SQLAlchemyError as exc:
            raise KeyRingError(f"cannot read the key ring ({type(exc).__name__}); "
                               f"was keys.store.create_tables run?") from exc
        try:
            return [KeyRecord(id=r.id, purpose=r.purpose, version=r.version,
                              status=KeyStatus(r.status), alg=r.alg,
                              created_at=utc(r.created_at), wrapped=bytes(r.wrapped),
                              public_key=r.public_key,
                              retired_at=utc(r.retired_at) if r.retired_at else None)
                    for r in rows]
        except ValueError as exc:
            raise KeyRingError(f"key_ring holds a bad status: {exc}") from None

    def add(self, record: KeyRecord) -> None:
        """Insert, demoting the purpose's primary in the same transaction."""
        try:
            with self._engine.begin() as conn:
                if record.status is KeyStatus.PRIMARY:
                    conn.execute(sa.update(key_ring)
                                 .where(key_ring.c.purpose == record.purpose,
                                        key_ring.c.status == KeyStatus.PRIMARY.value)
                                 .values(status=KeyStatus.ACTIVE.value))
                conn.execute(sa.insert(key_ring).values(
                    id=record.id, purpose=record.purpose, version=record.version,
                    status=record.status.value, alg=record.alg, created_at=record.created_at,
                    retired_at=record.retired_at, wrapped=record.wrapped,
                    public_key=record.public_key))
        except sa.exc.IntegrityError as exc:
            raise KeyConflict(f"key {record.id} ({record.purpose} v{record.version}) lost "
                              f"a race with another writer") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise KeyRingError(f"cannot write the key ring ({type(exc).__name__})") from exc

    def update_status(self, key_id: str, status: KeyStatus, *, expected: KeyStatus,
                      at: dt.datetime) -> None:
        """Compare-and-set a record's status in one UPDATE (no read-then-write window)."""
        _check_transition(status)
        values: dict[str, object] = {"status": status.value}
        if status is KeyStatus.RETIRED:
            values["retired_at"] = at
        now: str | None = None
        try:
            with self._engine.begin() as conn:
                done = conn.execute(sa.update(key_ring)
                                    .where(key_ring.c.id == key_id,
                                           key_ring.c.status == expected.value)
                                    .values(**values)).rowcount
                if done != 1:
                    now = conn.execute(sa.select(key_ring.c.status)
                                       .where(key_ring.c.id == key_id)).scalar_one_or_none()
        except sa.exc.SQLAlchemyError as exc:
            raise KeyRingError(f"cannot write the key ring ({type(exc).__name__})") from exc
        if done != 1:
            if now is None:
                raise UnknownKey(f"no key {key_id!r}")
            raise KeyConflict(f"key {key_id} is {now}, not {expected}")
