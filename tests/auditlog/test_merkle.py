"""RFC 6962 hashing and proofs: the published CT vectors, then every m <= n <= 70."""

from __future__ import annotations

import functools

import pytest

from gateway.auditlog import merkle

LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [  # (leaf index, tree size, path) from the CT reference tests
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
HASHES = [merkle.leaf_hash(x) for x in LEAVES]


def _reference_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, transcribed literally (recursive)."""
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = merkle.split_point(len(leaves))
    return merkle.node_hash(_reference_mth(leaves[:k]), _reference_mth(leaves[k:]))


@pytest.mark.parametrize("n", range(9))
def test_success_root_matches_published_vectors(n: int) -> None:
    assert merkle.root(HASHES[:n]).hex() == ROOTS[n]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_success_inclusion_matches_published_vectors(index: int, size: int,
                                                     path: list[str]) -> None:
    proof = merkle.inclusion_proof(index, size, HASHES)
    assert [p.hex() for p in proof] == path
    merkle.verify_inclusion(HASHES[index], index, size, proof, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_success_consistency_matches_published_vectors(old: int, new: int,
                                                       path: list[str]) -> None:
    proof = merkle.consistency_proof(old, new, HASHES)
    assert [p.hex() for p in proof] == path
    merkle.verify_consistency(old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]),
                              proof)


def test_success_frontier_and_stored_nodes_agree_with_reference() -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(2, "big")) for i in range(70)]
    frontier: list[bytes] = []
    pieces: dict[tuple[int, int], bytes] = {}
    for i, h in enumerate(leaves):
        pieces[(i, 0)] = h
        for level, node in enumerate(merkle.frontier_append(frontier, i, h), start=1):
            start = i + 1 - (1 << level)
            assert node == _reference_mth(leaves[start:i + 1])
            pieces[(start, level)] = node
        assert merkle.frontier_root(frontier) == _reference_mth(leaves[:i + 1])
        assert [pieces[p] for p in merkle.frontier_pieces(i + 1)] == frontier
    for a in range(0, 70, 7):
        for b in range(a + 1, 71, 5):
            got = merkle.subtree_from_pieces(a, b, lambda s, lv: pieces[(s, lv)])
            assert got == _reference_mth(leaves[a:b])


def test_success_every_proof_up_to_70_leaves_verifies_and_tampering_fails() -> None:
    leaves = [merkle.leaf_hash(b"entry %d" % i) for i in range(70)]
    roots = [merkle.root(leaves[:n]) for n in range(71)]
    bad = merkle.leaf_hash(b"forged")
    for n in range(1, 71):
        for i in range(n):
            proof = merkle.inclusion_proof(i, n, leaves)
            merkle.verify_inclusion(leaves[i], i, n, proof, roots[n])
            with pytest.raises(merkle.InvalidProof):
                merkle.verify_inclusion(bad, i, n, proof, roots[n])
            if proof:
                with pytest.raises(merkle.InvalidProof):
                    merkle.verify_inclusion(leaves[i], i, n, proof[:-1], roots[n])
                with pytest.raises(merkle.InvalidProof):
                    merkle.verify_inclusion(leaves[i], i, n, [bad, *proof[1:]], roots[n])
    for n in range(71):
        for m in range(n + 1):
            proof = merkle.consistency_proof(m, n, leaves)
            merkle.verify_consistency(m, n, roots[m], roots[n], proof)
            if 0 < m < n:
                with pytest.raises(merkle.InvalidProof):
                    merkle.verify_consistency(m, n, roots[m], roots[n - 1] if n - 1 > m
                                              else bad, proof)
                with pytest.raises(merkle.InvalidProof):
                    merkle.verify_consistency(m, n, bad, roots[n], proof)
                with pytest.raises(merkle.InvalidProof):
                    merkle.verify_consistency(m, n, roots[m], roots[n], proof[:-1])


def test_success_proofs_after_pruning_need_only_the_base_frontier() -> None:
    """Proofs for leaves at or past a prune point never ask for a pruned interior node."""
    leaves = [merkle.leaf_hash(b"%d" % i) for i in range(70)]
    mth = functools.lru_cache(maxsize=None)(lambda a, b: merkle.root(leaves[a:b]))
    for base in range(1, 70):
        known = set(merkle.frontier_pieces(base))

        def get(a: int, b: int, base: int = base, known: set[tuple[int, int]] = known) -> bytes:
            for start, level in merkle.subtree_pieces(a, b):
                assert start + (1 << level) > base or (start, level) in known
            return bytes(mth(a, b))

        for n in range(base, 71):
            assert merkle.root(leaves[:n]) == get(0, n)
            for i in range(base, n):
                merkle.inclusion_proof(i, n, get)
            for m in range(base, n + 1):
                merkle.consistency_proof(m, n, get)


@pytest.mark.parametrize(("index", "size"), [(-1, 3), (3, 3), (0, 0)])
def test_fail_inclusion_outside_tree(index: int, size: int) -> None:
    with pytest.raises(ValueError):
        merkle.inclusion_proof(index, size, HASHES)
    with pytest.raises(merkle.InvalidProof):
        merkle.verify_inclusion(HASHES[0], index, size, [], merkle.EMPTY_ROOT)


def test_fail_consistency_shrinking_tree() -> None:
    with pytest.raises(ValueError):
        merkle.consistency_proof(5, 4, HASHES)
    with pytest.raises(merkle.InvalidProof):
        merkle.verify_consistency(5, 4, bytes.fromhex(ROOTS[5]), bytes.fromhex(ROOTS[4]), [])
