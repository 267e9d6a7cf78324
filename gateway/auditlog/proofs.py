"""Inclusion and consistency proofs served from the stored tree, and their offline checks.

Every row stores the interior nodes its leaf completed, so any perfect aligned subtree
``[start, start + 2**level)`` is one primary-key lookup (row ``start + 2**level - 1``), and a
proof costs O(log n) lookups without reading old leaves. Below the retention base the
pruned subtrees are answered from the frontier kept in the head row.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from gateway.auditlog import merkle
from gateway.auditlog.schema import audit_log
from gateway.auditlog.store import Head, read_head, split_hashes
from gateway.errors import AuditUnavailable, BadRequest, NotFound


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


def _unb64(s: Any) -> bytes:
    try:
        out = base64.b64decode(str(s), validate=True)
    except binascii.Error:
        raise merkle.InvalidProof("proof hash is not base64") from None
    if len(out) != merkle.HASH_SIZE:
        raise merkle.InvalidProof("proof hash has the wrong length")
    return out


@dataclass(frozen=True)
class InclusionProof:
    """Entry ``leaf_index`` (leaf hash ``leaf_hash``) is in the tree ``(tree_size, root)``."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    root: bytes
    hashes: tuple[bytes, ...]

    def verify(self, root: bytes | None = None) -> None:
        """Raise InvalidProof unless the path leads to ``root`` (default: the one carried).

        Pass the root of a checkpoint you trust; the carried root proves nothing alone.
        """
        merkle.verify_inclusion(self.leaf_hash, self.leaf_index, self.tree_size, self.hashes,
                                self.root if root is None else root)

    def to_json(self) -> dict[str, Any]:
        """JSON form (base64 hashes, as in checkpoints)."""
        return {"leaf_index": self.leaf_index, "tree_size": self.tree_size,
                "leaf_hash": _b64(self.leaf_hash), "root": _b64(self.root),
                "hashes": [_b64(h) for h in self.hashes]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> InclusionProof:
        """Parse :meth:`to_json` output; raises InvalidProof when malformed."""
        try:
            return cls(int(doc["leaf_index"]), int(doc["tree_size"]), _unb64(doc["leaf_hash"]),
                       _unb64(doc["root"]), tuple(_unb64(h) for h in doc["hashes"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise merkle.InvalidProof(f"malformed inclusion proof ({type(exc).__name__})") from None


@dataclass(frozen=True)
class ConsistencyProof:
    """The tree ``(new_size, new_root)`` extends ``(old_size, old_root)``."""

    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    hashes: tuple[bytes, ...]

    def verify(self, old_root: bytes | None = None, new_root: bytes | None = None) -> None:
        """Raise InvalidProof unless consistent; pass the roots of checkpoints you hold."""
        merkle.verify_consistency(self.old_size, self.new_size,
                                  self.old_root if old_root is None else old_root,
                                  self.new_root if new_root is None else new_root, self.hashes)

    def to_json(self) -> dict[str, Any]:
        """JSON form (base64 hashes, as in checkpoints)."""
        return {"old_size": self.old_size, "new_size": self.new_size,
                "old_root": _b64(self.old_root), "new_root": _b64(self.new_root),
                "hashes": [_b64(h) for h in self.hashes]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ConsistencyProof:
        """Parse :meth:`to_json` output; raises InvalidProof when malformed."""
        try:
            return cls(int(doc["old_size"]), int(doc["new_size"]), _unb64(doc["old_root"]),
                       _unb64(doc["new_root"]), tuple(_unb64(h) for h in doc["hashes"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise merkle.InvalidProof(
                f"malformed consistency proof ({type(exc).__name__})") from None


class StoredTree:
    """Answers ``MTH(D[a:b])`` from stored nodes (and the pruned base's frontier)."""

    def __init__(self, conn: sa.Connection, head: Head):
        self._conn = conn
        self._cache: dict[tuple[int, int], bytes] = dict(zip(
            merkle.frontier_pieces(head.base_size), head.base_frontier))
        self._base = head.base_size

    def _fetch(self, pieces: Iterable[tuple[int, int]]) -> None:
        want = {p for p in pieces if p not in self._cache}
        if not want:
            return
        if any(start + (1 << level) <= self._base for start, level in want):
            raise NotFound("that part of the audit log was pruned by retention; "
                           "use its archive", code="audit_pruned")
        by_seq = {start + (1 << level) - 1: (start, level) for start, level in want}
        rows = self._conn.execute(
            sa.select(audit_log.c.seq, audit_log.c.leaf_hash, audit_log.c.nodes)
            .where(audit_log.c.seq.in_(sorted(by_seq))))
        for seq, leaf, nodes in rows:
            start, level = by_seq[seq]
            self._cache[(start, level)] = (bytes(leaf) if level == 0
                                           else split_hashes(nodes)[level - 1])
        if any(p not in self._cache for p in want):
            raise AuditUnavailable("audit log rows needed for the proof are missing; "
                                   "run `pgw audit verify`")

    def get(self, a: int, b: int) -> bytes:
        """MTH(D[a:b]), one query for the pieces not yet cached."""
        if a == b:
            return merkle.EMPTY_ROOT
        self._fetch(merkle.subtree_pieces(a, b))
        return merkle.subtree_from_pieces(a, b, lambda s, lv: self._cache[(s, lv)])


def _open(engine: sa.Engine) -> tuple[sa.Connection, Head]:
    conn = engine.connect()
    try:
        head = read_head(conn)
    except sa.exc.SQLAlchemyError as exc:
        conn.close()
        raise AuditUnavailable(f"audit log unreadable ({type(exc).__name__})") from None
    if head is None:
        head = Head(0, [], 0, None, 0, [])
    return conn, head


def inclusion_proof(engine: sa.Engine, seq: int, tree_size: int | None = None) -> InclusionProof:
    """Inclusion proof of entry ``seq`` in the tree of ``tree_size`` leaves (default: all)."""
    conn, head = _open(engine)
    with conn:
        size = head.size if tree_size is None else tree_size
        if not 0 <= seq < size or size > head.size:
            raise BadRequest(f"entry {seq} is not in a tree of size {size} "
                             f"(log size {head.size})", code="bad_proof_request")
        if seq < head.base_size:
            raise NotFound(f"entry {seq} was pruned by retention; use its archive",
                           code="audit_pruned")
        try:
            tree = StoredTree(conn, head)
            path = merkle.inclusion_proof(seq, size, tree.get)
            return InclusionProof(seq, size, tree.get(seq, seq + 1), tree.get(0, size),
                                  tuple(path))
        except sa.exc.SQLAlchemyError as exc:
            raise AuditUnavailable(f"audit log unreadable ({type(exc).__name__})") from None


def consistency_proof(engine: sa.Engine, old_size: int,
                      new_size: int | None = None) -> ConsistencyProof:
    """Consistency proof from ``old_size`` to ``new_size`` leaves (default: all)."""
    conn, head = _open(engine)
    with conn:
        new = head.size if new_size is None else new_size
        if not 0 <= old_size <= new <= head.size:
            raise BadRequest(f"no consistency proof from {old_size} to {new} "
                             f"(log size {head.size})", code="bad_proof_request")
        try:
            tree = StoredTree(conn, head)
            path = merkle.consistency_proof(old_size, new, tree.get)
            return ConsistencyProof(old_size, new, tree.get(0, old_size), tree.get(0, new),
                                    tuple(path))
        except sa.exc.SQLAlchemyError as exc:
            raise AuditUnavailable(f"audit log unreadable ({type(exc).__name__})") from None
