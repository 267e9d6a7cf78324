"""One entry as evidence: the stored leaf, its inclusion proof in the tree of the latest
signed checkpoint, and whether both check out — what the auditor's entry page shows and
the proof file it downloads (verifiable offline with the published signing keys)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from gateway.auditlog.checkpoint import InvalidCheckpoint, VerifyFn, verify_checkpoint
from gateway.auditlog.entries import as_utc, parse_leaf
from gateway.auditlog.merkle import InvalidProof, leaf_hash
from gateway.auditlog.proofs import InclusionProof, inclusion_proof
from gateway.auditlog.schema import audit_log
from gateway.auditlog.search import LogEntry
from gateway.auditlog.store import latest_checkpoint
from gateway.errors import AuditUnavailable, NotFound

PROOF_FORMAT = "pgw-audit-inclusion/v1"


def read_leaf(engine: sa.Engine, seq: int) -> tuple[LogEntry, str]:
    """Entry ``seq`` and the exact leaf text that was hashed; 404 when absent."""
    q = sa.select(audit_log.c.seq, audit_log.c.time, audit_log.c.kind, audit_log.c.request_id,
                  audit_log.c.entry, audit_log.c.leaf_hash).where(audit_log.c.seq == seq)
    try:
        with engine.connect() as conn:
            row = conn.execute(q).first() if 0 <= seq < 2**63 else None
    except sa.exc.SQLAlchemyError as exc:
        raise AuditUnavailable(f"audit log unreadable ({type(exc).__name__})") from None
    if row is None:
        raise NotFound(f"no audit entry {seq} (not written yet, or pruned by retention)",
                       code="audit_entry_not_found")
    try:
        entry = parse_leaf(row.entry).entry
    except ValueError:
        raise AuditUnavailable(f"audit entry {seq} is damaged; run `pgw audit verify`") from None
    return (LogEntry(row.seq, as_utc(row.time), row.kind, row.request_id, entry,
                     bytes(row.leaf_hash)), str(row.entry))


def read_entry(engine: sa.Engine, seq: int) -> LogEntry:
    return read_leaf(engine, seq)[0]


@dataclass(frozen=True)
class Evidence:
    """``status``: ``verified`` (leaf hash recomputed, proof leads to the root of a
    checkpoint whose signature verifies), ``pending`` (no signed checkpoint covers the
    entry yet) or ``failed`` (with ``problem``)."""

    entry: LogEntry
    leaf_text: str
    status: str
    problem: str | None
    proof: InclusionProof | None
    checkpoint_note: str | None
    checkpoint_size: int | None

    def proof_document(self) -> dict[str, Any]:
        """The downloadable proof: leaf text, its hash, the audit path and the signed
        checkpoint note. Check: SHA-256(0x00 || leaf) = leaf_hash; the path from it at
        leaf_index leads to the note's root; the note's signature verifies under the key
        published at GET /v1/keys."""
        return {"format": PROOF_FORMAT, "seq": self.entry.seq, "leaf": self.leaf_text,
                "leaf_hash": base64.b64encode(self.entry.leaf_hash).decode(),
                "inclusion": self.proof.to_json() if self.proof else None,
                "checkpoint_note": self.checkpoint_note, "status": self.status}


def evidence(engine: sa.Engine, verify: VerifyFn, seq: int, *, origin: str | None = None
             ) -> Evidence:
    entry, leaf = read_leaf(engine, seq)
    cp = latest_checkpoint(engine)

    def result(status: str, problem: str | None = None,
               proof: InclusionProof | None = None) -> Evidence:
        return Evidence(entry, leaf, status, problem, proof,
                        cp.note() if cp is not None else None,
                        cp.size if cp is not None else None)

    if leaf_hash(leaf.encode()) != entry.leaf_hash:
        return result("failed", "the stored leaf does not hash to its leaf hash")
    if cp is None or seq >= cp.size:
        return result("pending", "no signed checkpoint covers this entry yet")
    proof = inclusion_proof(engine, seq, cp.size)
    try:
        verify_checkpoint(cp, verify, origin=origin)
        proof.verify(cp.root)
    except (InvalidCheckpoint, InvalidProof) as exc:
        return result("failed", str(exc), proof)
    if proof.leaf_hash != entry.leaf_hash:
        return result("failed", "the tree holds a different leaf at this position", proof)
    return result("verified", None, proof)
