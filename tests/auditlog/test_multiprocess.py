"""Two processes appending to one PostgreSQL log get one gap-free sequence."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from gateway.auditlog import AuditLog, audit_log, create_schema, verify_log
from tests.conftest import pg_schema

from .helpers import Ed25519Signer, engine_for

WORKER = Path(__file__).with_name("append_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def _spawn(url: str, n: int, tag: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(WORKER), url, str(n), "4", tag],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)


def _run_two(url: str, engine: sa.Engine, signer: Ed25519Signer) -> None:
    procs = [_spawn(url, 300, tag) for tag in ("a", "b")]
    got: list[int] = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        got += [int(s) for s in out.strip().split(",")]
    assert sorted(got) == list(range(600))          # one sequence, no gaps, no duplicates
    with engine.connect() as conn:
        docs = [orjson.loads(t) for t in conn.execute(
            sa.select(audit_log.c.entry).order_by(audit_log.c.seq)).scalars()]
    assert [d["seq"] for d in docs] == list(range(600))
    assert {d["entry"]["worker"] for d in docs[:600]} == {"a", "b"}
    log = AuditLog(engine, signer=signer)
    log.checkpoint()
    log.close()
    res = verify_log(engine, signer.verify)
    assert res.ok and res.size == 600 and res.signed_size == 600, res.summary()


@pytest.mark.postgres
def test_success_two_processes_on_postgresql(signer: Ed25519Signer) -> None:
    with pg_schema() as url:
        engine = sa.create_engine(url)
        try:
            create_schema(engine)
            _run_two(url, engine, signer)
        finally:
            engine.dispose()


def test_success_two_processes_on_sqlite(tmp_path: Path, signer: Ed25519Signer) -> None:
    with engine_for("sqlite", tmp_path) as engine:
        _run_two(f"sqlite:///{tmp_path / 'state.db'}", engine, signer)
