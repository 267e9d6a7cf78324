"""Retention: move entries past the retention period into a signed, verifiable archive.

Only a whole range ``[base, k)`` ending at a signed checkpoint is pruned, and only when
every entry in it is older than the retention period (default three years, the
regulation minimum for provision records). The archive (gzipped NDJSON) holds the
entries, the checkpoints over them, and the frontier at ``base`` and at ``k``; the
database keeps the checkpoint at ``k`` and the frontier at ``k`` in the head row, so the
remaining log still verifies from there and still serves proofs for every later entry.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from gateway.auditlog import merkle
from gateway.auditlog.checkpoint import VerifyFn
from gateway.auditlog.entries import as_utc
from gateway.auditlog.schema import HEAD_ID, PRUNE_SETTING, audit_checkpoints, audit_head, audit_log
from gateway.auditlog.store import locked_head, read_head, utcnow
from gateway.auditlog.verify import ENTRY_COLUMNS, Mismatch, TreeWalker, VerifyResult
from gateway.errors import Conflict

DEFAULT_RETENTION = dt.timedelta(days=1096)  # three calendar years, leap day included
ARCHIVE_FORMAT = "pgw-audit-archive/1"
_BYTES = ("leaf_hash", "tree_root", "nodes", "root", "signature")


@dataclass(frozen=True)
class PruneResult:
    """Entries ``start`` .. ``end - 1`` moved to ``archive``; the log now starts at ``end``."""

    start: int
    end: int
    archive: Path


def _b64s(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


def _jsonable(row: Mapping[Any, Any]) -> dict[str, Any]:
    out = {str(k): v for k, v in row.items()}  # column keys are str subclasses
    for k in _BYTES:
        if k in out:
            out[k] = base64.b64encode(bytes(out[k])).decode()
    if "time" in out:
        out["time"] = as_utc(out["time"]).isoformat()
    return out


def _from_json(doc: dict[str, Any]) -> dict[str, Any]:
    for k in _BYTES:
        if k in doc:
            doc[k] = base64.b64decode(doc[k])
    if "time" in doc:
        doc["time"] = dt.datetime.fromisoformat(doc["time"])
    return doc


def _prune_end(conn: sa.Connection, base: int, size: int, cutoff: dt.datetime,
               max_entries: int | None) -> int | None:
    young = conn.execute(sa.select(sa.func.min(audit_log.c.seq)).where(
        audit_log.c.seq >= base, audit_log.c.time >= cutoff)).scalar()
    last = int(young) if young is not None else size
    if max_entries is not None:
        last = min(last, base + max_entries)
    end = conn.execute(sa.select(sa.func.max(audit_checkpoints.c.size)).where(
        audit_checkpoints.c.size > base, audit_checkpoints.c.size <= last)).scalar()
    return int(end) if end is not None else None


def prune(engine: sa.Engine, archive_dir: Path, *, before: dt.datetime | None = None,
          retention: dt.timedelta = DEFAULT_RETENTION, verify: VerifyFn | None = None,
          now: dt.datetime | None = None, max_entries: int | None = None) -> PruneResult | None:
    """Archive, then delete, the oldest entries older than both ``before`` and the
    retention period, up to the last signed checkpoint they fill. None if nothing is due.

    The range is verified (roots and, with ``verify``, signatures) and the archive is
    written and fsynced before anything is deleted.
    """
    cutoff = as_utc(now or utcnow()) - retention
    if before is not None:
        cutoff = min(cutoff, as_utc(before))
    with engine.connect() as conn:
        head = read_head(conn)
        if head is None:
            return None
        base = head.base_size
        end = _prune_end(conn, base, head.size, cutoff, max_entries)
        if end is None:
            return None
        cps = [dict(c) for c in conn.execute(sa.select(audit_checkpoints).where(
            audit_checkpoints.c.size >= base, audit_checkpoints.c.size <= end)
            .order_by(audit_checkpoints.c.size)).mappings()]
        rows = conn.execution_options(yield_per=2000).execute(
            sa.select(*[audit_log.c[c] for c in ENTRY_COLUMNS])
            .where(audit_log.c.seq >= base, audit_log.c.seq < end).order_by(audit_log.c.seq))
        path = Path(archive_dir) / f"audit-{base:012d}-{end:012d}.ndjson.gz"
        try:
            walker = TreeWalker(base, head.base_frontier, cps, verify)
            _write_archive(path, base, end, head.base_frontier, cps, rows.mappings(), walker)
        except Mismatch as m:
            raise Conflict(f"refusing to prune: the range does not verify ({m.problem})",
                           code="audit_prune_refused") from None
        finally:
            rows.close()
    with locked_head(engine) as (conn, locked):
        if locked.base_size != base:
            raise Conflict("another prune ran concurrently", code="audit_prune_refused")
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.set_config(PRUNE_SETTING, "on", True)))
        conn.execute(sa.delete(audit_log).where(audit_log.c.seq < end))
        conn.execute(sa.delete(audit_checkpoints).where(audit_checkpoints.c.size < end))
        conn.execute(sa.update(audit_head).where(audit_head.c.id == HEAD_ID).values(
            base_size=end, base_frontier=b"".join(walker.frontier)))
    return PruneResult(base, end, path)


def _write_archive(path: Path, base: int, end: int, base_frontier: list[bytes],
                   cps: list[dict[str, Any]], rows: Iterator[sa.RowMapping],
                   walker: TreeWalker) -> None:
    tmp = path.with_suffix(".tmp")
    try:
        _write(tmp, base, end, base_frontier, cps, rows, walker)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _write(tmp: Path, base: int, end: int, base_frontier: list[bytes],
           cps: list[dict[str, Any]], rows: Iterator[sa.RowMapping], walker: TreeWalker) -> None:
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb") as gz:
            def line(doc: dict[str, Any]) -> None:
                gz.write(orjson.dumps(doc) + b"\n")
            line({"type": "header", "format": ARCHIVE_FORMAT, "from": base, "to": end,
                  "base_frontier": _b64s(base_frontier)})
            for cp in cps:
                line({"type": "checkpoint", **_jsonable(cp)})
            for row in rows:
                walker.feed(row)
                line({"type": "entry", **_jsonable(row)})
            if walker.size != end or walker.signed != end:
                raise Mismatch(walker.size, "the range is incomplete or not signed at its end")
            line({"type": "footer", "to": end, "frontier": _b64s(walker.frontier),
                  "root": base64.b64encode(merkle.frontier_root(walker.frontier)).decode()})
        raw.flush()
        os.fsync(raw.fileno())


def verify_archive(path: Path, verify: VerifyFn | None, *,
                   origin: str | None = None) -> VerifyResult:
    """Verify one archive on its own: entries, roots, and the signed checkpoints in it."""
    with gzip.open(path, "rb") as f:
        docs = [orjson.loads(line) for line in f]
    if not docs or docs[0].get("format") != ARCHIVE_FORMAT or docs[-1].get("type") != "footer":
        return VerifyResult(False, 0, merkle.EMPTY_ROOT, None, "not a complete audit archive")
    header, footer = docs[0], docs[-1]
    base, end = int(header["from"]), int(header["to"])
    cps = [_from_json(d) for d in docs if d.get("type") == "checkpoint"]
    walker: TreeWalker | None = None
    try:
        frontier = [base64.b64decode(h) for h in header["base_frontier"]]
        walker = TreeWalker(base, frontier, cps, verify, origin)
        for d in docs:
            if d.get("type") == "entry":
                walker.feed(_from_json(d))
        walker.finish()
        if walker.size != end or walker.signed != end:
            raise Mismatch(walker.size, f"archive should end at a checkpoint at {end}")
        if _b64s(walker.frontier) != footer["frontier"]:
            raise Mismatch(None, "archive footer frontier differs from its entries")
    except Mismatch as m:
        size = walker.size if walker else base
        return VerifyResult(False, size, merkle.EMPTY_ROOT, m.seq, m.problem, base_size=base)
    res = walker.result()
    return VerifyResult(True, res.size, res.root, None, None, res.checkpoints,
                        res.signed_size, base)
