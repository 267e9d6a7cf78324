"""Step 9: record every decision and release before anything leaves.

``Recorder`` is the seam; ``gateway.auditlog.AuditLog`` (RFC 6962 Merkle log with
signed checkpoints) implements it. A recorder that raises makes the pipeline refuse the
release (503).
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol


class Recorder(Protocol):
    def record(self, kind: str, request_id: str, entry: Mapping[str, Any]) -> int:
        """Durably append one entry; return its sequence number. Raise
        ``AuditUnavailable`` on failure."""
        ...
