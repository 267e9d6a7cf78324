"""Tamper-evident audit log: RFC 6962 Merkle tree in the state database, signed checkpoints.

``AuditLog.record`` is the ``gateway.audit.Recorder`` verb. See docs/audit-log.md.
"""

from gateway.auditlog.anomalies import (
                                         Anomaly,
                                         AnomalyConfig,
                                         Window,
                                         detect_anomalies,
                                         examined_window,
)
from gateway.auditlog.checkpoint import (
                                         Checkpoint,
                                         InvalidCheckpoint,
                                         SignatureLike,
                                         Signer,
                                         VerifyFn,
                                         parse_note,
                                         verify_checkpoint,
)
from gateway.auditlog.log import DEFAULT_ORIGIN, AuditLog
from gateway.auditlog.merkle import InvalidProof, verify_consistency, verify_inclusion
from gateway.auditlog.proofs import (
                                         ConsistencyProof,
                                         InclusionProof,
                                         consistency_proof,
                                         inclusion_proof,
)
from gateway.auditlog.retention import DEFAULT_RETENTION, PruneResult, prune, verify_archive
from gateway.auditlog.schema import (
                                         audit_checkpoints,
                                         audit_head,
                                         audit_log,
                                         create_schema,
                                         metadata,
)
from gateway.auditlog.search import LogEntry, SearchPage, search
from gateway.auditlog.store import latest_checkpoint
from gateway.auditlog.verify import VerifyResult, verify_log

__all__ = [
    "DEFAULT_ORIGIN", "DEFAULT_RETENTION", "Anomaly", "AnomalyConfig", "AuditLog",
    "Checkpoint", "ConsistencyProof", "InclusionProof", "InvalidCheckpoint", "InvalidProof",
    "LogEntry", "PruneResult", "SearchPage", "SignatureLike", "Signer", "VerifyFn",
    "VerifyResult", "Window", "audit_checkpoints", "audit_head", "audit_log",
    "consistency_proof", "create_schema", "detect_anomalies", "examined_window",
    "inclusion_proof",
    "latest_checkpoint", "metadata", "parse_note", "prune", "search", "verify_archive",
    "verify_checkpoint", "verify_consistency", "verify_inclusion", "verify_log",
]
