"""Recording: durable before return, one gap-free sequence, fail closed, checkpoints."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from gateway.audit import Recorder
from gateway.auditlog import (
    AuditLog,
    audit_checkpoints,
    audit_log,
    create_schema,
    parse_note,
    verify_log,
)
from gateway.auditlog.checkpoint import verify_checkpoint
from gateway.errors import AuditUnavailable

from .helpers import Ed25519Signer, decision_entry, fill, sqlite_engine


def _rows(engine: sa.Engine) -> list[sa.Row[tuple[int, str]]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(audit_log.c.seq, audit_log.c.entry)
                                 .order_by(audit_log.c.seq)))


@pytest.mark.parametrize("group_commit", [True, False])
def test_success_record_returns_seq_after_commit(engine: sa.Engine, signer: Ed25519Signer,
                                                 group_commit: bool) -> None:
    log = AuditLog(engine, signer=signer, group_commit=group_commit)
    try:
        for i in range(5):
            seq = log.record("decision", f"req-{i}", decision_entry(i))
            assert seq == i
            # durable and visible to any other connection the moment record() returns
            assert [r.seq for r in _rows(engine)] == list(range(i + 1))
    finally:
        log.close()
    assert verify_log(engine, signer.verify).ok


def test_success_leaf_is_canonical_json_with_its_own_seq(engine: sa.Engine) -> None:
    log = AuditLog(engine)
    try:
        log.record("release", "req-9", {"z": 1, "a": {"y": "数据", "b": [1, 2]}})
    finally:
        log.close()
    (row,) = _rows(engine)
    doc = orjson.loads(row.entry)
    assert row.entry == orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()
    assert doc["seq"] == 0 and doc["kind"] == "release" and doc["request_id"] == "req-9"
    assert doc["entry"] == {"a": {"b": [1, 2], "y": "数据"}, "z": 1}
    assert "数据" in row.entry  # UTF-8, not \\u escapes


def test_success_concurrent_threads_get_one_gap_free_sequence(engine: sa.Engine,
                                                              signer: Ed25519Signer) -> None:
    log = AuditLog(engine, signer=signer, checkpoint_every=50)
    seqs: list[int] = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        for i in range(40):
            s = log.record("decision", f"req-{t}-{i}", decision_entry(i))
            with lock:
                seqs.append(s)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    assert sorted(seqs) == list(range(320))
    result = verify_log(engine, signer.verify)
    assert result.ok, result.summary()
    assert result.size == 320 and result.signed_size == 320
    assert result.checkpoints >= 320 // 50


@pytest.mark.parametrize("bad", [
    {"ids": {"110101199003074518"}},          # a set is not JSON
    {1: "non-string key"},
])
def test_fail_unencodable_entry_raises_audit_unavailable_without_values(
        engine: sa.Engine, bad: dict[object, object]) -> None:
    log = AuditLog(engine)
    try:
        with pytest.raises(AuditUnavailable) as err:
            log.record("decision", "req-1", bad)  # type: ignore[arg-type]
        assert "110101199003074518" not in str(err.value)
        assert _rows(engine) == []
    finally:
        log.close()


@pytest.mark.parametrize("kind", ["", "x" * 33])
def test_fail_bad_kind_raises_audit_unavailable(engine: sa.Engine, kind: str) -> None:
    log = AuditLog(engine)
    try:
        with pytest.raises(AuditUnavailable):
            log.record(kind, "req-1", {})
    finally:
        log.close()


@pytest.mark.parametrize("group_commit", [True, False])
def test_fail_database_gone_raises_audit_unavailable(tmp_path: Path, group_commit: bool) -> None:
    engine = sqlite_engine(tmp_path / "missing-dir" / "state.db")
    log = AuditLog(engine, group_commit=group_commit, timeout=5)
    try:
        with pytest.raises(AuditUnavailable) as err:
            log.record("decision", "req-1", decision_entry(1))
        assert err.value.code == "audit_unavailable"
    finally:
        log.close()
        engine.dispose()


def test_fail_dropped_table_fails_the_whole_batch(engine: sa.Engine) -> None:
    log = AuditLog(engine)
    try:
        log.record("decision", "req-0", decision_entry(0))
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE audit_log"))
        with pytest.raises(AuditUnavailable):
            log.record("decision", "req-1", decision_entry(1))
    finally:
        log.close()


def test_fail_record_after_close(engine: sa.Engine) -> None:
    log = AuditLog(engine)
    log.close()
    with pytest.raises(AuditUnavailable):
        log.record("decision", "req-1", decision_entry(1))


def test_success_checkpoint_every_n_entries_and_on_close(engine: sa.Engine,
                                                         signer: Ed25519Signer) -> None:
    log = AuditLog(engine, signer=signer, checkpoint_every=10, checkpoint_seconds=3600,
                   group_commit=False, origin="test.example/audit")
    fill(log, 25)
    with engine.connect() as conn:
        sizes = list(conn.execute(sa.select(audit_checkpoints.c.size)
                                  .order_by(audit_checkpoints.c.size)).scalars())
    assert sizes == [10, 20]
    log.close()
    cp = log.latest_checkpoint()
    assert cp is not None and cp.size == 25 and cp.key_id == signer.key_id
    assert cp.body().decode().split("\n")[:2] == ["test.example/audit", "25"]
    again = parse_note(cp.note())
    assert again == cp
    verify_checkpoint(again, signer.verify, origin="test.example/audit")
    result = verify_log(engine, signer.verify, origin="test.example/audit")
    assert result.ok and result.checkpoints == 3


def test_success_checkpoint_after_t_seconds_while_idle(engine: sa.Engine,
                                                       signer: Ed25519Signer) -> None:
    log = AuditLog(engine, signer=signer, checkpoint_every=10_000, checkpoint_seconds=0.2)
    try:
        fill(log, 3)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cp = log.latest_checkpoint()
            if cp is not None and cp.size == 3:
                break
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint was signed within the interval")
    finally:
        log.close()


def test_success_tuple_signer_is_accepted(engine: sa.Engine) -> None:
    inner = Ed25519Signer()

    class TupleSigner:
        def sign(self, data: bytes) -> tuple[str, bytes]:
            s = inner.sign(data)
            return s.key_id, s.sig

    log = AuditLog(engine, signer=TupleSigner())
    fill(log, 2)
    log.close()
    assert verify_log(engine, inner.verify).checkpoints == 1


def test_success_failing_signer_does_not_block_records(engine: sa.Engine) -> None:
    class Broken:
        def sign(self, data: bytes) -> tuple[str, bytes]:
            raise RuntimeError("key ring locked")

    log = AuditLog(engine, signer=Broken(), checkpoint_every=1)
    try:
        assert fill(log, 3) == [0, 1, 2]
        with pytest.raises(AuditUnavailable):
            log.checkpoint()
    finally:
        log.close()


def test_success_is_the_gateway_recorder(engine: sa.Engine) -> None:
    recorder: Recorder = AuditLog(engine)   # checked by mypy: same verb, same types
    try:
        assert recorder.record("decision", "req-1", decision_entry(1)) == 0
    finally:
        assert isinstance(recorder, AuditLog)
        recorder.close()


def test_success_sqlite_durable_commit_leaves_pool_setting_alone(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "state.db")     # gateway default: WAL + NORMAL
    create_schema(engine)
    log = AuditLog(engine, group_commit=False)
    try:
        fill(log, 3)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    finally:
        log.close()
        engine.dispose()
