"""Step 9: record every decision and release before anything leaves.

``Recorder`` is the seam: the tamper-evident Merkle log implements the same verb. A
recorder that raises makes the pipeline refuse the release (503).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping, Protocol

import sqlalchemy as sa

from gateway import state
from gateway.errors import AuditUnavailable


class Recorder(Protocol):
    def record(self, kind: str, request_id: str, entry: Mapping[str, Any]) -> int:
        """Durably append one entry; return its sequence number. Raise on failure."""
        ...


class StateDbRecorder:
    """Insert-only entries in the state database, one transaction per entry."""

    def __init__(self, engine: sa.Engine):
        self._engine = engine

    def record(self, kind: str, request_id: str, entry: Mapping[str, Any]) -> int:
        try:
            with self._engine.begin() as conn:
                res = conn.execute(sa.insert(state.audit_events).values(
                    request_id=request_id, kind=kind, entry=dict(entry),
                    created_at=dt.datetime.now(dt.timezone.utc)))
                pk = res.inserted_primary_key
        except sa.exc.SQLAlchemyError as exc:
            raise AuditUnavailable(
                f"audit append failed ({type(exc).__name__}); nothing released") from None
        if pk is None or pk[0] is None:
            raise AuditUnavailable("audit append returned no sequence number")
        return int(pk[0])
