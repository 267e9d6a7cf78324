"""Retention pruning: only old entries, only up to a checkpoint, archived, still verifiable."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from gateway.auditlog import AuditLog, audit_head, merkle, prune, search, verify_archive, verify_log
from gateway.errors import NotFound

from .helpers import Ed25519Signer, FixedClock, fill

NOW = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
OLD = NOW - dt.timedelta(days=4 * 365)


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    d = tmp_path / "archive"
    d.mkdir()
    return d


@pytest.fixture
def aged(engine: sa.Engine, signer: Ed25519Signer) -> sa.Engine:
    """20 entries four years old (checkpoints at 8, 16), then 12 new ones: checkpoints at 21
    (the last one is years old, so the time limit fires), 29, and 32 on close."""
    old = AuditLog(engine, signer=signer, checkpoint_every=8, group_commit=False,
                   clock=FixedClock(OLD))
    fill(old, 20)
    new = AuditLog(engine, signer=signer, checkpoint_every=8, group_commit=False,
                   clock=FixedClock(NOW))
    fill(new, 12, start=20)
    new.close()
    return engine


def test_success_prune_to_last_checkpoint_of_old_entries(aged: sa.Engine, signer: Ed25519Signer,
                                                         archive_dir: Path) -> None:
    res = prune(aged, archive_dir, verify=signer.verify, now=NOW)
    assert res is not None and (res.start, res.end) == (0, 16)
    assert res.archive.name == "audit-000000000000-000000000016.ndjson.gz"

    after = verify_log(aged, signer.verify)
    assert after.ok and (after.base_size, after.size, after.signed_size) == (16, 32, 32)
    assert [e.seq for e in search(aged, limit=100).entries] == list(range(16, 32))

    archived = verify_archive(res.archive, signer.verify)
    assert archived.ok and (archived.base_size, archived.size) == (0, 16), archived.summary()

    log = AuditLog(aged, signer=signer, group_commit=False)
    cp = log.latest_checkpoint()
    assert cp is not None and cp.size == 32
    for seq in range(16, 32):
        log.inclusion_proof(seq, 32).verify(cp.root)
    base = log.consistency_proof(16, 32)
    base.verify(new_root=cp.root)
    with pytest.raises(NotFound):
        log.inclusion_proof(3, 32)
    with pytest.raises(NotFound):
        log.consistency_proof(8, 32)

    fill(log, 5, start=32)          # appends continue on the pruned log
    log.close()
    assert verify_log(aged, signer.verify).size == 37


def test_success_chained_archives_each_verify(aged: sa.Engine, signer: Ed25519Signer,
                                              archive_dir: Path) -> None:
    first = prune(aged, archive_dir, now=NOW)
    later = NOW + dt.timedelta(days=4 * 365)
    second = prune(aged, archive_dir, now=later, max_entries=10)
    assert first is not None and second is not None
    assert (second.start, second.end) == (16, 21)
    for r in (first, second):
        assert verify_archive(r.archive, signer.verify).ok
    assert verify_log(aged, signer.verify).base_size == 21


@pytest.mark.parametrize("kwargs", [
    {"now": OLD + dt.timedelta(days=365)},                       # inside retention
    {"now": NOW, "before": OLD - dt.timedelta(days=1)},          # nothing before `before`
    {"now": NOW, "retention": dt.timedelta(days=5 * 365)},       # a longer retention
    {"now": NOW, "max_entries": 7},                              # no checkpoint within reach
])
def test_success_nothing_is_pruned_early(aged: sa.Engine, archive_dir: Path,
                                         kwargs: dict[str, object]) -> None:
    assert prune(aged, archive_dir, **kwargs) is None  # type: ignore[arg-type]
    assert verify_log(aged, None).base_size == 0
    assert list(archive_dir.iterdir()) == []


def test_fail_tampered_base_frontier_is_detected(aged: sa.Engine, signer: Ed25519Signer,
                                                 archive_dir: Path) -> None:
    prune(aged, archive_dir, now=NOW)
    with aged.begin() as conn:
        conn.execute(sa.update(audit_head).values(base_frontier=b"\2" * 32))
    res = verify_log(aged, signer.verify)
    assert not res.ok and "checkpoint at size 16" in (res.problem or ""), res.summary()


def test_fail_tampered_archive_is_detected(aged: sa.Engine, signer: Ed25519Signer,
                                           archive_dir: Path) -> None:
    res = prune(aged, archive_dir, now=NOW)
    assert res is not None
    with gzip.open(res.archive) as f:
        lines = [orjson.loads(x) for x in f.read().splitlines()]
    for d in lines:
        if d.get("type") == "entry" and d["seq"] == 5:
            d["entry"] = d["entry"].replace('"research"', '"marketing"')
    with gzip.open(res.archive, "wb") as f:
        f.write(b"".join(orjson.dumps(d) + b"\n" for d in lines))
    bad = verify_archive(res.archive, signer.verify)
    assert not bad.ok and bad.first_bad_seq == 5, bad.summary()


def test_fail_refuses_to_prune_a_damaged_range(aged: sa.Engine, archive_dir: Path) -> None:
    from gateway.errors import Conflict

    from .test_verify import edit_entry_and_every_hint, tamper
    with tamper(aged) as conn:
        edit_entry_and_every_hint(conn)            # entry 13, caught by checkpoint 16
    with pytest.raises(Conflict):
        prune(aged, archive_dir, now=NOW)
    assert verify_log(aged, None).base_size == 0
    assert list(archive_dir.iterdir()) == []


def test_success_merkle_root_of_archive_and_log_agree(aged: sa.Engine, archive_dir: Path) -> None:
    before = verify_log(aged, None).root
    prune(aged, archive_dir, now=NOW)
    assert verify_log(aged, None).root == before != merkle.EMPTY_ROOT
