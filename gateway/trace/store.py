"""The ``release_sketches`` table: one row sketch per release, next to the audit log.

A sketch is too large for an audit entry (about 10 bits per released row), so the entry
carries its SHA-256 (``sketch_sha256``) and row count, and the bytes live here. Tracing
checks the bytes against the entry, so an altered sketch is caught through the Merkle log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from gateway import state
from gateway.clock import as_utc
from gateway.errors import AuditUnavailable

release_sketches = sa.Table(
    "release_sketches",
    state.metadata,
    sa.Column("receipt_id", sa.String(64), primary_key=True),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("grant_id", sa.String(64), nullable=True),
    sa.Column("operator_id", sa.String(64), nullable=True),
    sa.Column("dataset", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("payload_sha256", sa.String(64), nullable=False),
    sa.Column("n_rows", sa.BigInteger, nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("sketch", sa.LargeBinary, nullable=False),
    sa.Index("ix_release_sketches_payload", "payload_sha256"),
    sa.Index("ix_release_sketches_dataset", "dataset", "created_at"),
)


@dataclass(frozen=True)
class StoredSketch:
    """One row of ``release_sketches``."""

    receipt_id: str
    request_id: str
    grant_id: str | None
    operator_id: str | None
    dataset: str
    created_at: dt.datetime
    format: str
    payload_sha256: str
    n_rows: int
    key_id: str
    sha256: str
    sketch: bytes


def save_sketch(engine: sa.Engine, s: StoredSketch) -> None:
    """Insert one sketch; ``AuditUnavailable`` if it cannot be stored (the release is then
    refused, as when its audit entry cannot be written)."""
    try:
        with engine.begin() as conn:
            conn.execute(release_sketches.insert().values(
                receipt_id=s.receipt_id, request_id=s.request_id, grant_id=s.grant_id,
                operator_id=s.operator_id, dataset=s.dataset, created_at=s.created_at,
                format=s.format, payload_sha256=s.payload_sha256, n_rows=s.n_rows,
                key_id=s.key_id, sha256=s.sha256, sketch=s.sketch))
    except sa.exc.SQLAlchemyError as exc:
        raise AuditUnavailable(f"release sketch could not be stored ({type(exc).__name__})",
                               code="audit_unavailable") from None


def _row(r: sa.Row[Any]) -> StoredSketch:
    m = r._mapping
    return StoredSketch(
        receipt_id=m["receipt_id"], request_id=m["request_id"], grant_id=m["grant_id"],
        operator_id=m["operator_id"], dataset=m["dataset"],
        created_at=as_utc(m["created_at"]), format=m["format"],
        payload_sha256=m["payload_sha256"], n_rows=int(m["n_rows"]), key_id=m["key_id"],
        sha256=m["sha256"], sketch=bytes(m["sketch"]))


def sketches_by_payload(engine: sa.Engine, digests: list[str]) -> list[StoredSketch]:
    """Releases whose payload hash is one of ``digests``."""
    q = release_sketches.select().where(release_sketches.c.payload_sha256.in_(digests))
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(q)]


def iter_sketches(engine: sa.Engine, *, limit: int | None = None,
                  batch: int = 500) -> Iterator[StoredSketch]:
    """Every stored sketch, newest first (at most ``limit``), a batch at a time."""
    q = release_sketches.select().order_by(release_sketches.c.created_at.desc(),
                                           release_sketches.c.receipt_id)
    if limit is not None:
        q = q.limit(limit)
    with engine.connect() as conn:
        for rows in conn.execution_options(stream_results=True,
                                           yield_per=batch).execute(q).partitions():
            yield from (_row(r) for r in rows)


def prune_sketches(engine: sa.Engine, before: dt.datetime) -> int:
    """Delete the sketches made before ``before`` (after ``pgw audit prune`` archived the
    entries that sealed them: a sketch is only trusted while its release entry is in the
    log). Returns how many went."""
    with engine.begin() as conn:
        return int(conn.execute(sa.delete(release_sketches)
                                .where(release_sketches.c.created_at < as_utc(before)))
                   .rowcount or 0)
