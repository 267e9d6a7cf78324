"""Test doubles and builders for the audit log tests: a plain Ed25519 signer, engines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.auditlog import AuditLog, create_schema
from tests.conftest import pg_schema


@dataclass(frozen=True)
class Signature:
    key_id: str
    sig: bytes


class Ed25519Signer:
    """The key ring's shape: ``sign(data) -> Signature``, ``verify`` raises on mismatch."""

    def __init__(self, key_id: str = "audit-ed25519-v1"):
        self.key_id = key_id
        self._key = Ed25519PrivateKey.generate()

    def sign(self, data: bytes) -> Signature:
        return Signature(self.key_id, self._key.sign(data))

    def verify(self, key_id: str, data: bytes, sig: bytes) -> None:
        if key_id != self.key_id:
            raise InvalidSignature(f"unknown key {key_id}")
        self._key.public_key().verify(sig, data)


def sqlite_engine(path: Path) -> sa.Engine:
    """A file SQLite engine set up like the gateway's state engine (WAL)."""
    engine = sa.create_engine(f"sqlite:///{path}",
                              connect_args={"timeout": 30, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


@contextmanager
def engine_for(backend: str, tmp_path: Path) -> Iterator[sa.Engine]:
    """A fresh engine with the audit schema on ``sqlite`` or ``postgresql``."""
    if backend == "sqlite":
        engine = sqlite_engine(tmp_path / "state.db")
        create_schema(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    with pg_schema() as url:
        engine = sa.create_engine(url)
        create_schema(engine)
        try:
            yield engine
        finally:
            engine.dispose()


def decision_entry(i: int, *, allow: bool = True, operator: str = "op-1",
                   dataset: str = "huji_renkou", grant: str | None = "g-1") -> dict[str, Any]:
    """An entry shaped like the pipeline's decision record (no personal data)."""
    return {
        "time": "2026-05-01T08:00:00+00:00", "request_id": f"req-{i}", "action": "rows",
        "principal": {"operator_id": operator, "org_uscc": "91310110666007217T",
                      "key_id": "k-1", "roles": ["operator"]},
        "dataset": dataset, "requested_fields": ["name", "gender", "region_code"],
        "purpose": "research", "grant_id": grant, "client_ip": "10.0.0.1",
        "policy_engine": "embedded", "policy_version": "sha256:abc",
        "decision": {"allow": allow, "reasons": [] if allow else ["no_grant: 无有效授权"]},
    }


def fill(log: AuditLog, n: int, start: int = 0) -> list[int]:
    """Append ``n`` decision entries; return their sequence numbers."""
    return [log.record("decision", f"req-{i}", decision_entry(i, allow=i % 3 != 0))
            for i in range(start, start + n)]


class FixedClock:
    """A settable clock for retention tests."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now
