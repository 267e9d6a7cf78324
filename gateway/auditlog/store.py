"""Transactions on the audit tables: lock the head, append a batch, sign a checkpoint.

Appends are serialized by the database, not by this process: PostgreSQL (and MySQL) lock
the head row with ``SELECT … FOR UPDATE``; SQLite opens the transaction with
``BEGIN IMMEDIATE``, which takes the single write lock up front. Whoever holds the lock
assigns ``seq = head.size``, inserts, moves the head, and commits — one sequence for
every thread, process and replica.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import sqlalchemy as sa

from gateway.auditlog import merkle
from gateway.auditlog.checkpoint import Checkpoint, Signer, sign_checkpoint
from gateway.auditlog.entries import IndexFields, as_utc, leaf_document
from gateway.auditlog.schema import HEAD_ID, audit_checkpoints, audit_head, audit_log

Clock = Callable[[], dt.datetime]
_SQLITE_FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def utcnow() -> dt.datetime:
    """The default clock."""
    return dt.datetime.now(dt.UTC)


def split_hashes(blob: bytes | None) -> list[bytes]:
    """A concatenation of 32-byte hashes, as a list."""
    blob = bytes(blob or b"")
    if len(blob) % merkle.HASH_SIZE:
        raise ValueError("stored hash list has a torn length")
    return [blob[i:i + merkle.HASH_SIZE] for i in range(0, len(blob), merkle.HASH_SIZE)]


@dataclass
class Head:
    """The single head row: where the tree stands now."""

    size: int
    frontier: list[bytes]
    checkpoint_size: int
    checkpoint_time: dt.datetime | None
    base_size: int
    base_frontier: list[bytes]


@dataclass(frozen=True)
class Pending:
    """An entry already encoded by the caller, waiting for its sequence number."""

    kind: str
    request_id: str
    entry_json: bytes
    index: IndexFields


def ensure_head(engine: sa.Engine) -> None:
    """Insert the empty head row unless it exists (racing creators are harmless)."""
    with engine.connect() as conn:
        if conn.execute(sa.select(audit_head.c.id)).first() is not None:
            return
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(audit_head).values(
                id=HEAD_ID, size=0, frontier=b"", checkpoint_size=0, checkpoint_time=None,
                base_size=0, base_frontier=b""))
    except sa.exc.IntegrityError:
        pass  # another process created it first


def read_head(conn: sa.Connection, *, for_update: bool = False) -> Head | None:
    """The head row, or None for a log that was never written."""
    q = sa.select(audit_head).where(audit_head.c.id == HEAD_ID)
    if for_update:
        q = q.with_for_update()
    row = conn.execute(q).mappings().first()
    if row is None:
        return None
    return Head(size=row["size"], frontier=split_hashes(row["frontier"]),
                checkpoint_size=row["checkpoint_size"],
                checkpoint_time=as_utc(row["checkpoint_time"]) if row["checkpoint_time"]
                else None,
                base_size=row["base_size"], base_frontier=split_hashes(row["base_frontier"]))


@contextmanager
def locked_head(engine: sa.Engine, *, durable: bool = True) -> Iterator[tuple[sa.Connection, Head]]:
    """A transaction holding the log's write lock; commits on normal exit.

    ``durable`` makes the commit wait for the disk whatever the server default:
    ``synchronous=FULL`` on SQLite (the connection's own setting is put back afterwards,
    since the pool shares it with the rest of the state database), ``synchronous_commit=on``
    on PostgreSQL (``SET LOCAL``: this transaction only).
    """
    with engine.connect() as conn:
        name = conn.dialect.name
        restore: int | None = None
        if name == "sqlite" and durable:
            current = int(conn.exec_driver_sql("PRAGMA synchronous").scalar() or 0)
            if current < _SQLITE_FULL:
                restore = current
                conn.exec_driver_sql(f"PRAGMA synchronous={_SQLITE_FULL}")
        try:
            if name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif name == "postgresql" and durable:
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO on")
            head = read_head(conn, for_update=name != "sqlite")
            if head is None:
                raise LookupError("audit head row is missing")
            yield conn, head
            conn.commit()
        except BaseException:
            with suppress(sa.exc.DBAPIError):
                conn.rollback()
            raise
        finally:
            if restore is not None:
                with suppress(sa.exc.DBAPIError):
                    conn.exec_driver_sql(f"PRAGMA synchronous={restore}")


def append(conn: sa.Connection, head: Head, items: Sequence[Pending], clock: Clock) -> list[int]:
    """Append ``items`` under the lock held on ``head``; updates ``head`` in place."""
    rows = []
    size, frontier = head.size, list(head.frontier)
    for item in items:
        now = clock()
        doc = leaf_document(size, now, item.kind, item.request_id, item.entry_json)
        leaf = merkle.leaf_hash(doc)
        created = merkle.frontier_append(frontier, size, leaf)
        rows.append({
            "seq": size, "time": now, "kind": item.kind, "request_id": item.request_id,
            "operator_id": item.index.operator_id, "dataset": item.index.dataset,
            "grant_id": item.index.grant_id, "allowed": item.index.allowed,
            "entry": doc.decode(), "leaf_hash": leaf,
            "tree_root": merkle.frontier_root(frontier), "nodes": b"".join(created),
        })
        size += 1
    if rows:
        conn.execute(sa.insert(audit_log), rows)
        conn.execute(sa.update(audit_head).where(audit_head.c.id == HEAD_ID).values(
            size=size, frontier=b"".join(frontier)))
    seqs = list(range(head.size, size))
    head.size, head.frontier = size, frontier
    return seqs


def checkpoint_due(head: Head, now: dt.datetime, every: int, seconds: float,
                   since: dt.datetime) -> bool:
    """Unsigned entries past the count limit, or older than the time limit."""
    unsigned = head.size - head.checkpoint_size
    if unsigned <= 0:
        return False
    last = head.checkpoint_time or since
    return unsigned >= every or (now - last).total_seconds() >= seconds


def write_checkpoint(conn: sa.Connection, head: Head, signer: Signer, origin: str,
                     now: dt.datetime) -> Checkpoint | None:
    """Sign the tree as it stands under the lock; None when nothing is unsigned."""
    if head.size == 0 or head.size == head.checkpoint_size:
        return None
    cp = sign_checkpoint(signer, origin, head.size, merkle.frontier_root(head.frontier), now)
    conn.execute(sa.insert(audit_checkpoints).values(
        size=cp.size, root=cp.root, time=cp.time, origin=cp.origin, key_id=cp.key_id,
        signature=cp.signature, note=cp.body().decode()))
    conn.execute(sa.update(audit_head).where(audit_head.c.id == HEAD_ID).values(
        checkpoint_size=cp.size, checkpoint_time=cp.time))
    head.checkpoint_size, head.checkpoint_time = cp.size, cp.time
    return cp


def row_to_checkpoint(row: sa.RowMapping) -> Checkpoint:
    """A stored checkpoint row as a :class:`Checkpoint`."""
    return Checkpoint(origin=row["origin"], size=row["size"], root=bytes(row["root"]),
                      time=as_utc(row["time"]), key_id=row["key_id"],
                      signature=bytes(row["signature"]))


def latest_checkpoint(engine: sa.Engine) -> Checkpoint | None:
    """The newest signed checkpoint, or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(audit_checkpoints)
                           .order_by(audit_checkpoints.c.size.desc()).limit(1)).mappings().first()
    return row_to_checkpoint(row) if row is not None else None
