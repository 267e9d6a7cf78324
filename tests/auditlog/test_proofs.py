"""Proofs served from the stored tree verify offline against signed checkpoints."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gateway.auditlog import (
    AuditLog,
    ConsistencyProof,
    InclusionProof,
    InvalidProof,
    audit_checkpoints,
    merkle,
    search,
)
from gateway.auditlog.store import row_to_checkpoint
from gateway.errors import BadRequest

from .helpers import Ed25519Signer, fill


@pytest.fixture
def log(engine: sa.Engine, signer: Ed25519Signer) -> AuditLog:
    log = AuditLog(engine, signer=signer, checkpoint_every=8, group_commit=False)
    fill(log, 37)
    log.close()
    return log


def _checkpoints(engine: sa.Engine) -> list[tuple[int, bytes]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_checkpoints).order_by(audit_checkpoints.c.size))
        return [(cp.size, cp.root) for cp in map(row_to_checkpoint, rows.mappings())]


def test_success_inclusion_of_every_entry_in_every_checkpoint(log: AuditLog) -> None:
    cps = _checkpoints(log.engine)
    assert [s for s, _ in cps] == [8, 16, 24, 32, 37]
    for size, root in cps:
        for seq in range(size):
            proof = log.inclusion_proof(seq, size)
            proof.verify(root)
            InclusionProof.from_json(proof.to_json()).verify(root)


def test_success_consistency_between_every_pair_of_checkpoints(log: AuditLog) -> None:
    cps = [(0, merkle.EMPTY_ROOT), *_checkpoints(log.engine)]
    for old, old_root in cps:
        for new, new_root in cps:
            if old <= new:
                proof = ConsistencyProof.from_json(log.consistency_proof(old, new).to_json())
                proof.verify(old_root, new_root)


def test_success_auditor_checks_a_searched_entry_against_a_checkpoint(log: AuditLog) -> None:
    page = search(log.engine, operator_id="op-1", decision="deny", limit=3)
    cp = log.latest_checkpoint()
    assert cp is not None
    for e in page.entries:
        proof = log.inclusion_proof(e.seq, cp.size)
        assert proof.leaf_hash == e.leaf_hash
        merkle.verify_inclusion(e.leaf_hash, e.seq, cp.size, proof.hashes, cp.root)


def test_fail_proof_against_the_wrong_root(log: AuditLog) -> None:
    cps = dict(_checkpoints(log.engine))
    with pytest.raises(InvalidProof):
        log.inclusion_proof(3, 16).verify(cps[24])
    with pytest.raises(InvalidProof):
        log.consistency_proof(8, 16).verify(cps[8], cps[24])
    doc = log.inclusion_proof(3, 16).to_json()
    doc["hashes"][0] = doc["hashes"][1]
    with pytest.raises(InvalidProof):
        InclusionProof.from_json(doc).verify(cps[16])


@pytest.mark.parametrize(("seq", "size"), [(37, None), (5, 5), (-1, 10), (3, 38)])
def test_fail_inclusion_outside_the_log(log: AuditLog, seq: int, size: int | None) -> None:
    with pytest.raises(BadRequest):
        log.inclusion_proof(seq, size)


@pytest.mark.parametrize(("old", "new"), [(9, 8), (3, 38), (-1, 5)])
def test_fail_consistency_outside_the_log(log: AuditLog, old: int, new: int) -> None:
    with pytest.raises(BadRequest):
        log.consistency_proof(old, new)


def test_fail_malformed_proof_json() -> None:
    with pytest.raises(InvalidProof):
        InclusionProof.from_json({"leaf_index": 0, "tree_size": 1, "leaf_hash": "zz",
                                  "root": "", "hashes": []})
