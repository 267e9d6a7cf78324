"""Leak tracing: which grants and releases a leaked file most likely came from.

Release side (``gateway.respond``): every release's rows are fingerprinted into a keyed
Bloom filter (:mod:`gateway.trace.sketch`) stored in ``release_sketches``, its hash sealed
in the release's audit entry. Trace side (:func:`gateway.trace.trace.trace_file`): the
file's payload hash, its pseudonym tokens recomputed under each grant's key, and the share
of its rows found in each release's sketch. See docs/leak-tracing.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.services import Services
    from gateway.trace.report import TraceReport

MAX_UPLOAD = 50 * 1024 * 1024


class FileTooLarge(GatewayError):
    status_code = 413
    code = "file_too_large"


def _record(svc: Services, request_id: str, auditor: str, outcome: str, size: int,
            report: TraceReport | None = None) -> None:
    """The trace itself is audited (it reads source values): ids and hashes only."""
    entry: dict[str, Any] = {"event": "leak_trace", "outcome": outcome,
                             "principal": {"operator_id": auditor}, "bytes": size}
    if report is not None:
        top = report.candidates[0] if report.candidates else None
        entry.update(file_sha256=report.file["sha256"], rows=report.file["rows"],
                     matched=report.matched, conclusive=report.conclusive,
                     top_grant=top.grant_id if top else None,
                     top_receipt=top.receipt_id if top else None)
    svc.recorder.record("trace", request_id, entry)


def trace_upload(svc: Services, data: bytes, filename: str, *, request_id: str,
                 auditor_id: str, limit: int = 10) -> TraceReport:
    """Trace an uploaded file with the gateway's own services and write the audit entry
    (kind ``trace``), whatever the outcome — the one path of the auditor API and the
    console page. Raises ``FileTooLarge``, ``UnsupportedFormat`` or ``UnreadableFile``
    (``GatewayError``s) after recording the refusal."""
    from gateway.trace.files import detect_format
    from gateway.trace.trace import TraceLimits, TraceSources, trace_file

    try:
        if len(data) > MAX_UPLOAD:
            raise FileTooLarge(f"the file is larger than {MAX_UPLOAD // 2**20} MB: trace "
                               "a sample of its rows")
        detect_format(data, filename)
        report = trace_file(TraceSources.of(svc), data, filename, TraceLimits(matches=limit))
    except GatewayError as exc:
        _record(svc, request_id, auditor_id, exc.code, len(data))
        raise
    _record(svc, request_id, auditor_id, "ok", len(data), report)
    return report
