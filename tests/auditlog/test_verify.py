"""Tampering directly in the database is detected and located (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from gateway.auditlog import AuditLog, audit_checkpoints, audit_log, merkle, verify_log
from gateway.auditlog.entries import leaf_document

from .helpers import Ed25519Signer, engine_for, fill

N, EVERY, J = 30, 10, 13
log_t = audit_log


@contextmanager
def tamper(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that edits the tables as an attacker with SQL access would
    (on PostgreSQL, with the insert-only triggers switched off)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        yield conn


def _row(conn: sa.Connection, seq: int) -> sa.RowMapping:
    return conn.execute(sa.select(log_t).where(log_t.c.seq == seq)).mappings().one()


def _move(conn: sa.Connection, where: sa.ColumnElement[bool], delta: int) -> None:
    # Two steps so the primary key never collides mid-statement.
    conn.execute(sa.update(log_t).where(where).values(seq=-log_t.c.seq - 1_000_000))
    conn.execute(sa.update(log_t).where(log_t.c.seq < 0)
                 .values(seq=-log_t.c.seq - 1_000_000 + delta))


def rehash_from(conn: sa.Connection, start: int) -> None:
    """Recompute every stored hint (leaf hash, tree root, nodes) as a careful attacker."""
    rows = list(conn.execute(sa.select(log_t.c.seq, log_t.c.entry).order_by(log_t.c.seq)))
    frontier: list[bytes] = []
    for i, (seq, text) in enumerate(rows):
        leaf = merkle.leaf_hash(text.encode())
        nodes = merkle.frontier_append(frontier, i, leaf)
        if seq >= start:
            conn.execute(sa.update(log_t).where(log_t.c.seq == seq).values(
                leaf_hash=leaf, tree_root=merkle.frontier_root(frontier), nodes=b"".join(nodes)))


def _edit_doc(text: str, **changes: object) -> str:
    doc = orjson.loads(text)
    doc["entry"].update(changes)
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()


def edit_entry(conn: sa.Connection) -> None:
    row = _row(conn, J)
    conn.execute(sa.update(log_t).where(log_t.c.seq == J).values(
        entry=_edit_doc(row["entry"], purpose="marketing")))


def edit_entry_and_leaf_hash(conn: sa.Connection) -> None:
    edit_entry(conn)
    text = _row(conn, J)["entry"]
    conn.execute(sa.update(log_t).where(log_t.c.seq == J).values(
        leaf_hash=merkle.leaf_hash(text.encode())))


def edit_entry_and_every_hint(conn: sa.Connection) -> None:
    edit_entry(conn)
    rehash_from(conn, J)


def edit_search_column(conn: sa.Connection) -> None:
    conn.execute(sa.update(log_t).where(log_t.c.seq == J).values(operator_id="op-other"))


def delete_entry(conn: sa.Connection) -> None:
    conn.execute(sa.delete(log_t).where(log_t.c.seq == J))


def delete_and_renumber(conn: sa.Connection) -> None:
    delete_entry(conn)
    _move(conn, log_t.c.seq > J, -1)


def delete_tail(conn: sa.Connection) -> None:
    conn.execute(sa.delete(log_t).where(log_t.c.seq >= 25))


def swap_seq_columns(conn: sa.Connection) -> None:
    conn.execute(sa.update(log_t).where(log_t.c.seq == J).values(seq=-1))
    conn.execute(sa.update(log_t).where(log_t.c.seq == 17).values(seq=J))
    conn.execute(sa.update(log_t).where(log_t.c.seq == -1).values(seq=17))


def swap_contents(conn: sa.Connection) -> None:
    a, b = _row(conn, J), _row(conn, 17)
    for seq, src in ((J, b), (17, a)):
        conn.execute(sa.update(log_t).where(log_t.c.seq == seq).values(
            entry=src["entry"], leaf_hash=src["leaf_hash"], request_id=src["request_id"]))


def insert_in_middle(conn: sa.Connection) -> None:
    src = _row(conn, J)
    _move(conn, log_t.c.seq >= J, +1)
    doc = leaf_document(J, src["time"], "decision", "req-forged",
                        orjson.dumps({"decision": {"allow": True}}))
    conn.execute(sa.insert(log_t).values(
        seq=J, time=src["time"], kind="decision", request_id="req-forged", operator_id=None,
        dataset=None, grant_id=None, allowed=True, entry=doc.decode(),
        leaf_hash=merkle.leaf_hash(doc), tree_root=b"\0" * 32, nodes=b""))
    rehash_from(conn, J)


def insert_at_end(conn: sa.Connection) -> None:
    src = _row(conn, N - 1)
    doc = leaf_document(N, src["time"], "decision", "req-forged", b"{}")
    conn.execute(sa.insert(log_t).values(
        seq=N, time=src["time"], kind="decision", request_id="req-forged", entry=doc.decode(),
        leaf_hash=merkle.leaf_hash(doc), tree_root=b"\0" * 32, nodes=b""))
    rehash_from(conn, N)


CASES: list[tuple[str, Callable[[sa.Connection], None], int | None, str]] = [
    ("edit", edit_entry, J, "does not match its leaf hash"),
    ("edit+leaf_hash", edit_entry_and_leaf_hash, J, "tree root after it"),
    ("edit+all hints", edit_entry_and_every_hint, 10, "checkpoint at size 20"),
    ("edit search column", edit_search_column, J, "stored columns"),
    ("delete", delete_entry, J, "missing"),
    ("delete+renumber", delete_and_renumber, J, "recorded as entry 14"),
    ("delete tail", delete_tail, 25, "gone"),
    ("swap seq", swap_seq_columns, J, "recorded as entry 17"),
    ("swap contents", swap_contents, J, "recorded as entry 17"),
    ("insert middle", insert_in_middle, J, "recorded as entry 13"),
    ("insert end", insert_at_end, N, "head counts"),
]


@pytest.fixture
def written(engine: sa.Engine, signer: Ed25519Signer) -> sa.Engine:
    log = AuditLog(engine, signer=signer, checkpoint_every=EVERY, group_commit=False)
    fill(log, N)
    log.close()
    res = verify_log(engine, signer.verify)
    assert res.ok and res.size == N and res.signed_size == N, res.summary()
    return engine


@pytest.mark.parametrize(("name", "attack", "first_bad", "says"), CASES,
                         ids=[c[0] for c in CASES])
def test_fail_tampering_is_detected_and_located(
        written: sa.Engine, signer: Ed25519Signer, name: str,
        attack: Callable[[sa.Connection], None], first_bad: int, says: str) -> None:
    with tamper(written) as conn:
        attack(conn)
    res = verify_log(written, signer.verify)
    assert not res.ok
    assert res.first_bad_seq == first_bad, res.summary()
    assert says in (res.problem or ""), res.summary()
    assert res.summary().startswith(f"FAIL entry {first_bad}:")


@pytest.mark.parametrize("change", ["signature", "root", "note"])
def test_fail_forged_checkpoint_is_detected(written: sa.Engine, signer: Ed25519Signer,
                                            change: str) -> None:
    t = audit_checkpoints
    with tamper(written) as conn:
        row = conn.execute(sa.select(t).where(t.c.size == 20)).mappings().one()
        if change == "signature":
            sig = bytes(row["signature"])
            values: dict[str, object] = {"signature": bytes([sig[0] ^ 1]) + sig[1:]}
        elif change == "root":
            values = {"root": b"\1" * 32}
        else:  # a consistent note and root, but not signed by the key
            lines = row["note"].split("\n")
            lines[3] = "2000-01-01T00:00:00Z"
            values = {"note": "\n".join(lines)}
        conn.execute(sa.update(t).where(t.c.size == 20).values(**values))
    res = verify_log(written, signer.verify)
    assert not res.ok and "checkpoint at size 20" in (res.problem or ""), res.summary()


def test_fail_other_key_is_rejected(written: sa.Engine) -> None:
    res = verify_log(written, Ed25519Signer().verify)
    assert not res.ok and "bad signature" in (res.problem or "")


def test_success_ok_summary_names_size_and_root(written: sa.Engine,
                                                signer: Ed25519Signer) -> None:
    res = verify_log(written, signer.verify)
    log_root = merkle.root([merkle.leaf_hash(r.encode()) for r in _texts(written)])
    assert res.root == log_root
    assert res.summary().startswith(f"OK size={N} root=")


def _texts(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(log_t.c.entry).order_by(log_t.c.seq)).scalars())


@pytest.mark.postgres
def test_fail_postgres_refuses_update_and_delete(tmp_path: Path) -> None:
    with engine_for("postgresql", tmp_path) as engine:
        log = AuditLog(engine, signer=Ed25519Signer(), group_commit=False)
        fill(log, 3)
        log.close()
        for stmt in (sa.update(log_t).values(kind="x"), sa.delete(log_t),
                     sa.delete(audit_checkpoints), sa.text("TRUNCATE audit_log")):
            with pytest.raises(sa.exc.DBAPIError, match="insert-only"), engine.begin() as conn:
                conn.execute(stmt)
