"""``AuditLog``: the tamper-evident recorder behind ``gateway.audit.Recorder``.

``record()`` returns the entry's sequence number only after the transaction holding it has
committed durably; any failure raises :class:`AuditUnavailable` and the caller releases
nothing. With group commit (the default) callers hand encoded entries to one appender
thread, which takes everything pending, appends it in ONE transaction, commits, and then
wakes each caller — one fsync for many requests, no response before its entry is durable.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from gateway.auditlog import proofs, store
from gateway.auditlog.checkpoint import Checkpoint, Signer
from gateway.auditlog.entries import MAX_KIND, MAX_REQUEST_ID, canonical_json, index_fields
from gateway.errors import AuditUnavailable

log = logging.getLogger(__name__)

DEFAULT_ORIGIN = "public-data-gateway/audit"


class _Waiter:
    __slots__ = ("cancelled", "done", "failure", "item", "seq")

    def __init__(self, item: store.Pending):
        self.item = item
        self.done = threading.Event()
        self.seq = -1
        self.failure: str | None = None
        self.cancelled = False


_STOP = object()


class AuditLog:
    """Merkle-tree audit log in the state database; implements ``Recorder.record``.

    ``signer`` signs a checkpoint at least every ``checkpoint_every`` entries or
    ``checkpoint_seconds`` seconds, on :meth:`checkpoint`, and at :meth:`close`. Create
    one per process (after any fork); processes and replicas share the log through the
    database lock.
    """

    def __init__(self, engine: sa.Engine, *, signer: Signer | None = None,
                 origin: str = DEFAULT_ORIGIN, checkpoint_every: int = 1000,
                 checkpoint_seconds: float = 10.0, group_commit: bool = True,
                 max_batch: int = 1000, timeout: float = 10.0, durable: bool = True,
                 clock: store.Clock = store.utcnow):
        if checkpoint_every < 1 or checkpoint_seconds <= 0 or max_batch < 1:
            raise ValueError("checkpoint_every, checkpoint_seconds and max_batch must be > 0")
        self.engine = engine
        self.origin = origin
        self._signer = signer
        self._every = checkpoint_every
        self._seconds = checkpoint_seconds
        self._group = group_commit
        self._max_batch = max_batch
        self._timeout = timeout
        self._durable = durable
        self._clock = clock
        self._since = clock()
        self._queue: queue.SimpleQueue[_Waiter | object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._head_ready = False
        self._last_head: store.Head | None = None

    # --- the Recorder verb ---------------------------------------------------------

    def record(self, kind: str, request_id: str, entry: Mapping[str, Any]) -> int:
        """Durably append one entry; return its sequence number (0-based leaf index).

        Returns only after the entry's transaction committed; raises AuditUnavailable (and
        nothing else) on any failure, with no entry values in the message.
        """
        try:
            waiter = _Waiter(self._encode(kind, request_id, entry))
        except Exception as exc:  # noqa: BLE001 - whatever the entry holds, fail closed
            raise AuditUnavailable(
                f"audit entry could not be encoded ({type(exc).__name__}); nothing released"
            ) from None
        if self._group:
            with self._lock:
                if self._closed:
                    raise AuditUnavailable("audit log is closed; nothing released")
                self._start_thread()
                self._queue.put(waiter)
            if not waiter.done.wait(self._timeout):
                waiter.cancelled = True
                raise AuditUnavailable("audit append timed out; nothing released")
        else:
            if self._closed:
                raise AuditUnavailable("audit log is closed; nothing released")
            self._commit([waiter])
            self._maybe_checkpoint()
        if waiter.failure is not None:
            raise AuditUnavailable(waiter.failure)
        return waiter.seq

    @staticmethod
    def _encode(kind: str, request_id: str, entry: Mapping[str, Any]) -> store.Pending:
        if not isinstance(kind, str) or not 0 < len(kind) <= MAX_KIND:
            raise ValueError("kind")
        if not isinstance(request_id, str) or len(request_id) > MAX_REQUEST_ID:
            raise ValueError("request_id")
        body = dict(entry)
        return store.Pending(kind, request_id, canonical_json(body), index_fields(body))

    # --- appending -------------------------------------------------------------------

    def _commit(self, waiters: list[_Waiter]) -> None:
        try:
            if not self._head_ready:
                store.ensure_head(self.engine)
                self._head_ready = True
            with store.locked_head(self.engine, durable=self._durable) as (conn, head):
                seqs = store.append(conn, head, [w.item for w in waiters], self._clock)
            self._last_head = head
        except Exception as exc:  # noqa: BLE001 - database, lock, disk: the entries are not durable
            log.warning("audit append of %d entries failed: %s", len(waiters),
                        type(exc).__name__)
            for w in waiters:
                w.failure = f"audit append failed ({type(exc).__name__}); nothing released"
                w.done.set()
            return
        for w, seq in zip(waiters, seqs):
            w.seq = seq
            w.done.set()

    def _start_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-appender",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        tick = max(0.05, min(self._seconds / 2, 5.0))
        while True:
            try:
                first = self._queue.get(timeout=tick)
            except queue.Empty:
                self._maybe_checkpoint(idle=True)
                continue
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            live = [w for w in batch if isinstance(w, _Waiter) and not w.cancelled]
            if live:
                self._commit(live)
                self._maybe_checkpoint()
            if stop:
                return

    # --- checkpoints -------------------------------------------------------------------

    def _maybe_checkpoint(self, *, idle: bool = False) -> None:
        if self._signer is None:
            return
        try:
            if idle:
                with self.engine.connect() as conn:
                    head = store.read_head(conn)
            else:
                head = self._last_head
            if head is None or not store.checkpoint_due(
                    head, self._clock(), self._every, self._seconds, self._since):
                return
            self._sign(force=False)
        except Exception as exc:  # noqa: BLE001 - retried on the next batch or tick; entries are durable
            log.warning("audit checkpoint failed: %s", type(exc).__name__)

    def _sign(self, *, force: bool) -> Checkpoint | None:
        assert self._signer is not None
        with store.locked_head(self.engine, durable=self._durable) as (conn, head):
            now = self._clock()
            if not force and not store.checkpoint_due(head, now, self._every, self._seconds,
                                                      self._since):
                return None
            return store.write_checkpoint(conn, head, self._signer, self.origin, now)

    def checkpoint(self) -> Checkpoint | None:
        """Sign a checkpoint now if any entry is unsigned; return the latest checkpoint."""
        if self._signer is None:
            raise AuditUnavailable("audit log has no signer; cannot sign a checkpoint")
        try:
            store.ensure_head(self.engine)
            self._sign(force=True)
            return store.latest_checkpoint(self.engine)
        except Exception as exc:  # noqa: BLE001 - signer or database; the caller decides
            raise AuditUnavailable(f"audit checkpoint failed ({type(exc).__name__})") from None

    def flush(self) -> Checkpoint | None:
        """Appends are already durable when ``record`` returns; this signs the tail."""
        return self.checkpoint() if self._signer is not None else None

    def close(self) -> None:
        """Stop the appender, fail anything still queued, sign a final checkpoint."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            self._queue.put(_STOP)
        if thread is not None:
            thread.join(self._timeout)
        while True:
            try:
                left = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(left, _Waiter):
                left.failure = "audit log is closed; nothing released"
                left.done.set()
        if self._signer is not None:
            try:
                self.checkpoint()
            except AuditUnavailable:
                log.warning("final audit checkpoint failed")

    # --- reading -------------------------------------------------------------------------

    def latest_checkpoint(self) -> Checkpoint | None:
        """The newest signed checkpoint."""
        return store.latest_checkpoint(self.engine)

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> proofs.InclusionProof:
        """Proof that entry ``seq`` is in the tree of ``tree_size`` (default: current)."""
        return proofs.inclusion_proof(self.engine, seq, tree_size)

    def consistency_proof(self, old_size: int,
                          new_size: int | None = None) -> proofs.ConsistencyProof:
        """Proof that the tree of ``new_size`` (default: current) extends ``old_size``."""
        return proofs.consistency_proof(self.engine, old_size, new_size)
