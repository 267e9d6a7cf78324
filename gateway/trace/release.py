"""The release side of leak tracing: sketch the rows as they go out, store the sketch, and
put its hash into the release's audit entry (called from ``gateway.respond``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from gateway.clock import now
from gateway.errors import AuditUnavailable
from gateway.pipeline import Release
from gateway.trace.sketch import RowHasher, SketchBuilder
from gateway.trace.store import StoredSketch, save_sketch

log = logging.getLogger("gateway")


class ReleaseSketch:
    """Fingerprints of the rows of one release, batch by batch."""

    def __init__(self, release: Release):
        self.release = release
        self.names = [f.name for f in release.fields]
        self._builder = SketchBuilder(RowHasher.from_ring(release.svc.keyring_or_fail()))

    def add(self, cols: Mapping[str, Sequence[Any]]) -> None:
        try:
            self._builder.add([cols[n] for n in self.names])
        except (pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
            # Fail closed: a release that cannot be traced is not released.
            raise AuditUnavailable(f"release sketch failed ({type(exc).__name__})",
                                   code="audit_unavailable") from None

    def store(self, n_rows: int, payload_sha256: str, fmt: str) -> dict[str, Any]:
        """Store the sketch of the first ``n_rows`` rows; return the audit entry fields
        that seal it. Raises ``AuditUnavailable`` when it cannot be stored."""
        sketch = self._builder.build(n_rows)
        data = sketch.to_bytes()
        digest = sketch.sha256()
        r = self.release
        save_sketch(r.svc.state_engine, StoredSketch(
            receipt_id=r.receipt_id, request_id=r.ctx.request_id,
            grant_id=r.audit.get("grant_id"),
            operator_id=(r.audit.get("principal") or {}).get("operator_id"),
            dataset=r.dataset.id, created_at=now(), format=fmt, payload_sha256=payload_sha256,
            n_rows=n_rows, key_id=sketch.key_id, sha256=digest, sketch=data))
        return {"sketch_sha256": digest, "sketch_rows": n_rows,
                "sketch_key_id": sketch.key_id}


def sketch_fields(sketch: ReleaseSketch | None, status: str, n_rows: int,
                  payload_sha256: str, fmt: str) -> tuple[dict[str, Any], AuditUnavailable | None]:
    """For the end of a stream: the entry fields, or the error that must refuse the
    receipt. A complete or truncated stream whose sketch cannot be stored gets no receipt
    (fail closed); an interrupted one is still recorded, marked ``sketch_unavailable``."""
    if sketch is None or n_rows == 0:
        return {}, None
    try:
        return sketch.store(n_rows, payload_sha256, fmt), None
    except AuditUnavailable as exc:
        if status in ("complete", "truncated_at_max_rows"):
            return {}, exc
        log.error("sketch of interrupted export %s not stored: %s",
                  sketch.release.ctx.request_id, exc.message)
        return {"sketch_unavailable": True}, None
