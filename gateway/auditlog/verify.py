"""Recompute the audit tree from the stored entries; check every checkpoint; name the
first entry that does not match.

Stored hashes (``leaf_hash``, ``tree_root``, ``nodes``) are only hints for locating damage:
every one is recomputed from the entry text, and the authority is the signed checkpoints.
An attacker who rewrites an entry *and* every hint after it is still caught by the next
checkpoint, located to the range since the previous one.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from gateway.auditlog import merkle
from gateway.auditlog.checkpoint import InvalidCheckpoint, VerifyFn, parse_body
from gateway.auditlog.entries import as_utc, index_fields, parse_leaf
from gateway.auditlog.schema import audit_checkpoints, audit_log
from gateway.auditlog.store import read_head

ENTRY_COLUMNS = ("seq", "time", "kind", "request_id", "operator_id", "dataset", "grant_id",
                 "allowed", "entry", "leaf_hash", "tree_root", "nodes")


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a verification; ``first_bad_seq`` names the first entry at fault."""

    ok: bool
    size: int
    root: bytes
    first_bad_seq: int | None = None
    problem: str | None = None
    checkpoints: int = 0
    signed_size: int = 0
    base_size: int = 0

    def summary(self) -> str:
        """One line for the CLI: ``OK size=… root=…`` or ``FAIL entry …: …``."""
        if self.ok:
            return (f"OK size={self.size} root={base64.b64encode(self.root).decode()} "
                    f"checkpoints={self.checkpoints} signed_size={self.signed_size} "
                    f"base={self.base_size}")
        where = f"entry {self.first_bad_seq}" if self.first_bad_seq is not None else "log"
        return f"FAIL {where}: {self.problem}"


class Mismatch(Exception):
    """Raised inside the walk; becomes a failed :class:`VerifyResult`."""

    def __init__(self, seq: int | None, problem: str):
        super().__init__(problem)
        self.seq = seq
        self.problem = problem


class TreeWalker:
    """Feeds entries in order from a base frontier, checking each and every checkpoint."""

    def __init__(self, base_size: int, base_frontier: list[bytes],
                 checkpoints: Iterable[Mapping[Any, Any]], verify: VerifyFn | None,
                 origin: str | None = None):
        self.base = self.size = base_size
        self.frontier = list(base_frontier)
        self.signed = base_size
        self.count = 0
        self._verify = verify
        self._origin = origin
        self._cps = {int(c["size"]): c for c in checkpoints if int(c["size"]) >= base_size}
        if len(self.frontier) != base_size.bit_count():
            raise Mismatch(None, "the retention base frontier is malformed")
        if base_size:
            if base_size not in self._cps:
                raise Mismatch(None, f"no checkpoint at the retention base (size {base_size})")
            self._checkpoint(self._cps[base_size], base_size)

    def _checkpoint(self, cp: Mapping[Any, Any], start: int) -> None:
        size = int(cp["size"])
        try:
            origin, body_size, root, _ = parse_body(cp["note"])
        except InvalidCheckpoint:
            raise Mismatch(None, f"checkpoint at size {size} has a malformed note") from None
        if (body_size != size or not hmac.compare_digest(root, bytes(cp["root"]))
                or origin != cp["origin"]):
            raise Mismatch(None, f"checkpoint at size {size}: columns differ from its note")
        if self._origin is not None and origin != self._origin:
            raise Mismatch(None, f"checkpoint at size {size}: unexpected origin")
        if self._verify is not None:
            try:
                ok = self._verify(cp["key_id"], cp["note"].encode(), bytes(cp["signature"]))
            except Exception:  # noqa: BLE001 - a verifier signals a bad signature by raising
                ok = False
            if ok is False:
                raise Mismatch(None, f"checkpoint at size {size}: bad signature "
                                     f"(key {cp['key_id']})")
        if not hmac.compare_digest(root, merkle.frontier_root(self.frontier)):
            raise Mismatch(start, f"checkpoint at size {size} does not match entries "
                                  f"{start}..{size - 1}: one of them was altered")
        self.count += 1
        self.signed = size

    def feed(self, row: Mapping[Any, Any]) -> None:
        """Check the next stored entry (a mapping with :data:`ENTRY_COLUMNS`)."""
        seq, expected = int(row["seq"]), self.size
        if seq != expected:
            raise Mismatch(expected, f"entry {expected} is missing (deleted or renumbered)")
        try:
            leaf = parse_leaf(row["entry"])
        except ValueError:
            raise Mismatch(seq, f"entry {seq} is not a leaf document (edited)") from None
        if leaf.seq != seq:
            # Content from an earlier position: rows were inserted at or after it.
            bad = leaf.seq if self.base <= leaf.seq < seq else seq
            raise Mismatch(bad, f"entry {seq} holds the content recorded as entry {leaf.seq}: "
                                "entries were deleted, inserted or reordered")
        lh = merkle.leaf_hash(row["entry"].encode())
        if not hmac.compare_digest(lh, bytes(row["leaf_hash"])):
            raise Mismatch(seq, f"entry {seq} was edited: its content does not match its "
                                "leaf hash")
        idx = index_fields(leaf.entry)
        if ((row["kind"], row["request_id"], as_utc(row["time"]), row["operator_id"],
             row["dataset"], row["grant_id"], row["allowed"])
                != (leaf.kind, leaf.request_id, leaf.time, idx.operator_id, idx.dataset,
                    idx.grant_id, idx.allowed)):
            raise Mismatch(seq, f"entry {seq}: stored columns differ from its hashed content")
        created = merkle.frontier_append(self.frontier, seq, lh)
        self.size += 1
        if not hmac.compare_digest(merkle.frontier_root(self.frontier), bytes(row["tree_root"])):
            raise Mismatch(seq, f"entry {seq} was altered: the tree root after it does not "
                                "match (leaf hash rewritten too)")
        if not hmac.compare_digest(b"".join(created), bytes(row["nodes"])):
            raise Mismatch(seq, f"entry {seq}: stored tree nodes differ from the recomputed ones")
        if self.size in self._cps:
            self._checkpoint(self._cps[self.size], self.signed)

    def finish(self) -> None:
        """After the last entry: no checkpoint may lie beyond it."""
        beyond = [s for s in self._cps if s > self.size]
        if beyond:
            raise Mismatch(self.size, f"checkpoint at size {min(beyond)} covers entries from "
                                      f"{self.size} that are gone (deleted)")

    def result(self) -> VerifyResult:
        """The passing result at the current position."""
        return VerifyResult(True, self.size, merkle.frontier_root(self.frontier),
                            checkpoints=self.count, signed_size=self.signed)


def verify_log(engine: sa.Engine, verify: VerifyFn | None, *, origin: str | None = None,
               batch: int = 2000) -> VerifyResult:
    """Recompute the tree and check every checkpoint (``verify(key_id, data, sig)`` raises
    on a bad signature; pass None only to skip signatures). Streams: O(log n) memory."""
    with engine.connect() as conn:
        head = read_head(conn)
        base_size = head.base_size if head else 0
        cps = list(conn.execute(sa.select(audit_checkpoints)).mappings())
        walker: TreeWalker | None = None
        try:
            walker = TreeWalker(base_size, head.base_frontier if head else [], cps, verify,
                                origin)
            below = conn.execute(sa.select(sa.func.min(audit_log.c.seq))
                                 .where(audit_log.c.seq < base_size)).scalar()
            if below is not None:
                raise Mismatch(int(below), f"entry {below} lies below the retention base "
                                           f"{base_size} (inserted)")
            cols = [audit_log.c[name] for name in ENTRY_COLUMNS]
            rows = conn.execution_options(yield_per=batch).execute(
                sa.select(*cols).where(audit_log.c.seq >= base_size).order_by(audit_log.c.seq))
            try:
                for row in rows.mappings():
                    walker.feed(row)
            finally:
                rows.close()  # a server-side cursor left open when a mismatch stops the walk
            walker.finish()
            if head is None and walker.size:
                raise Mismatch(None, "the head row is missing")
            if head is not None and head.size != walker.size:
                first = min(head.size, walker.size)
                raise Mismatch(first, f"the head counts {head.size} entries but {walker.size} "
                                      "are stored (deleted from or appended past the end)")
            if head is not None and head.frontier != walker.frontier:
                raise Mismatch(None, "the head's frontier differs from the entries")
        except Mismatch as m:
            size = walker.size if walker else base_size
            root = merkle.frontier_root(walker.frontier) if walker else merkle.EMPTY_ROOT
            return VerifyResult(False, size, root, m.seq, m.problem,
                                walker.count if walker else 0,
                                walker.signed if walker else 0, base_size)
    res = walker.result()
    return VerifyResult(True, res.size, res.root, None, None, res.checkpoints, res.signed_size,
                        base_size)
