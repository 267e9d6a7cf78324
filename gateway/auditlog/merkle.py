"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and proof verification. Pure functions.

Leaves hash as ``SHA-256(0x00 || data)``, interior nodes as ``SHA-256(0x01 || left || right)``,
the empty tree as ``SHA-256("")``. A tree of ``n`` leaves splits at the largest power of two
below ``n`` (RFC 6962 §2.1), so its left side is always a complete, aligned subtree.

Proof builders take either the full list of leaf hashes or a *subtree getter*
``get(a, b) -> MTH(D[a:b])``; a store answers the getter from stored nodes in O(log n).
Verifiers raise :class:`InvalidProof`; they never return False.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

SubtreeGetter = Callable[[int, int], bytes]
"""``get(a, b)`` returns MTH(D[a:b]), the RFC 6962 hash of leaves ``a`` .. ``b - 1``."""


class InvalidProof(ValueError):
    """A proof does not verify, or its sizes are impossible."""


def leaf_hash(data: bytes) -> bytes:
    """The RFC 6962 hash of one leaf: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 6962 hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``): where MTH splits."""
    if n < 2:
        raise ValueError("split_point needs n >= 2")
    return 1 << ((n - 1).bit_length() - 1)


# --- compact ranges: the frontier of a growing tree -------------------------------------


def frontier_append(frontier: list[bytes], size: int, leaf: bytes) -> list[bytes]:
    """Append one leaf hash to the frontier of a tree of ``size`` leaves, in place.

    The frontier holds the roots of the perfect subtrees that make up the tree, largest
    first (one per set bit of ``size``). Returns the interior nodes completed by this leaf,
    lowest level first: node ``h`` covers leaves ``size + 1 - 2**h .. size``.
    """
    created: list[bytes] = []
    h, s = leaf, size
    while s & 1:
        h = node_hash(frontier.pop(), h)
        created.append(h)
        s >>= 1
    frontier.append(h)
    return created


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """MTH of the tree whose frontier this is (folded from the smallest subtree up)."""
    if not frontier:
        return EMPTY_ROOT
    r = frontier[-1]
    for h in reversed(frontier[:-1]):
        r = node_hash(h, r)
    return r


def frontier_pieces(size: int) -> list[tuple[int, int]]:
    """``(start, level)`` of each perfect subtree in the frontier of ``size`` leaves."""
    out: list[tuple[int, int]] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((start, level))
            start += 1 << level
    return out


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes (any length; the empty list gives SHA-256 of "")."""
    frontier: list[bytes] = []
    for i, h in enumerate(leaf_hashes):
        frontier_append(frontier, i, h)
    return frontier_root(frontier)


def subtree_pieces(a: int, b: int) -> list[tuple[int, int]]:
    """The perfect aligned subtrees ``(start, level)`` whose hashes make MTH(D[a:b])."""
    out: list[tuple[int, int]] = []

    def walk(lo: int, hi: int) -> None:
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            out.append((lo, n.bit_length() - 1))
            return
        k = split_point(n)
        walk(lo, lo + k)
        walk(lo + k, hi)

    if b <= a:
        raise ValueError("empty range")
    walk(a, b)
    return out


def subtree_from_pieces(a: int, b: int, piece: Callable[[int, int], bytes]) -> bytes:
    """MTH(D[a:b]) from ``piece(start, level)``, the hash of each perfect aligned subtree."""
    n = b - a
    if n & (n - 1) == 0 and a % n == 0:
        return piece(a, n.bit_length() - 1)
    k = split_point(n)
    return node_hash(subtree_from_pieces(a, a + k, piece), subtree_from_pieces(a + k, b, piece))


def _getter(source: Sequence[bytes] | SubtreeGetter) -> SubtreeGetter:
    if callable(source):
        return source
    leaves = source
    return lambda a, b: root(leaves[a:b])


# --- proofs (RFC 6962 §2.1.1, §2.1.2) ----------------------------------------------------


def inclusion_proof(index: int, size: int, source: Sequence[bytes] | SubtreeGetter) -> list[bytes]:
    """PATH(index, D[0:size]): the audit path of one leaf, nearest sibling first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    get = _getter(source)
    path: list[bytes] = []
    a, b, m = 0, size, index
    while b - a > 1:
        k = split_point(b - a)
        if m < k:
            path.append(get(a + k, b))
            b = a + k
        else:
            path.append(get(a, a + k))
            a, m = a + k, m - k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int,
                      source: Sequence[bytes] | SubtreeGetter) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]): shows the first ``old_size`` leaves are unchanged."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    get = _getter(source)
    # SUBPROOF(m, D[a:b], complete) unrolled: collect right-to-left, then reverse.
    out: list[bytes] = []
    a, b, m, complete = 0, new_size, old_size, True
    while m != b - a:
        k = split_point(b - a)
        if m <= k:
            out.append(get(a + k, b))
            b = a + k
        else:
            out.append(get(a, a + k))
            a, m, complete = a + k, m - k, False
    if not complete:
        out.append(get(a, b))
    out.reverse()
    return out


# --- verification (RFC 9162 §2.1.3.2, §2.1.4.2) -----------------------------------------


def _same(x: bytes, y: bytes) -> bool:
    return hmac.compare_digest(x, y)


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that an inclusion proof implies for ``leaf`` at ``index`` in ``size``."""
    if not 0 <= index < size:
        raise InvalidProof(f"leaf {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise InvalidProof("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("inclusion proof is too short")
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     expected_root: bytes) -> None:
    """Check that leaf hash ``leaf`` is leaf ``index`` of the tree ``(size, expected_root)``."""
    if not _same(root_from_inclusion(leaf, index, size, proof), expected_root):
        raise InvalidProof(f"inclusion proof for leaf {index} does not match the root")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """Check that the tree ``(new_size, new_root)`` extends ``(old_size, old_root)``."""
    if not 0 <= old_size <= new_size:
        raise InvalidProof(f"size {new_size} cannot extend size {old_size}")
    if old_size == new_size or old_size == 0:
        if proof:
            raise InvalidProof("consistency proof should be empty")
        if old_size == 0 and not _same(old_root, EMPTY_ROOT):
            raise InvalidProof("old root is not the empty-tree root")
        if old_size == new_size and not _same(old_root, new_root):
            raise InvalidProof("same size, different roots")
        return
    if not proof:
        raise InvalidProof("consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise InvalidProof("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("consistency proof is too short")
    if not _same(fr, old_root):
        raise InvalidProof(f"consistency proof does not match the old root (size {old_size})")
    if not _same(sr, new_root):
        raise InvalidProof(f"consistency proof does not match the new root (size {new_size})")
