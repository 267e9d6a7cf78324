"""Audit log benchmark: durable ``AuditLog.record()`` appends per second and p50/p99 latency
with N concurrent caller threads, on SQLite and on PostgreSQL (not a test).

    python bench/audit.py [--n 20000] [--threads 16] [--backends sqlite,postgresql]
                          [--modes group,direct] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]

Durability, as measured here: ``record()`` returns only after the transaction holding the
entry has committed with the commit flushed to disk —
* SQLite: WAL journal with ``synchronous=FULL`` (the log sets it on its own connection), so
  every commit fsyncs the WAL; ``NORMAL`` would survive a process crash but could lose the
  last commits on power loss, which is not durable enough for an audit trail.
* PostgreSQL: ``synchronous_commit=on`` (set per transaction by the log), so COMMIT returns
  after the WAL record is flushed.
``group`` mode batches all waiting entries into one transaction (one fsync) per round;
``direct`` does one transaction per entry in the caller's thread, for comparison.
Target: >= 1,000 audited decisions/s with p99 <= 50 ms. Prints figures; never fails.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.auditlog import AuditLog, create_schema, verify_log


class BenchSigner:
    """A bare Ed25519 key standing in for the key ring (checkpoints every 1,000 entries)."""

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()

    def sign(self, data: bytes) -> tuple[str, bytes]:
        return "bench-ed25519", self._key.sign(data)

    def verify(self, key_id: str, data: bytes, sig: bytes) -> None:
        self._key.public_key().verify(sig, data)


def entry(i: int) -> dict[str, Any]:
    """A small decision entry shaped like the pipeline's (about 700 bytes of JSON)."""
    return {
        "time": "2026-05-01T08:00:00+00:00", "request_id": f"req-{i}", "action": "rows",
        "principal": {"operator_id": f"op-{i % 50}", "org_uscc": "91310110666007217T",
                      "key_id": "k-1", "roles": ["operator"]},
        "dataset": f"ds-{i % 20}", "requested_fields": ["name", "gender", "region_code", "id_no"],
        "filters": [{"field": "gender", "op": "eq", "value_sha256": "9f86d081884c7d65"}],
        "purpose": "research", "grant_id": f"g-{i % 100}", "client_ip": "10.0.0.1",
        "policy_engine": "embedded", "policy_version": "sha256:" + "ab" * 32,
        "decision": {"allow": i % 10 != 0, "reasons": ["license_active: 授权有效"]},
        "released_fields": {"name": "mask", "gender": "keep", "region_code": "generalize"},
        "max_rows": 1000,
    }


@contextmanager
def sqlite_engine() -> Iterator[sa.Engine]:
    with tempfile.TemporaryDirectory() as d:
        engine = sa.create_engine(f"sqlite:///{d}/state.db",
                                  connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _wal(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")

        create_schema(engine)
        yield engine
        engine.dispose()


@contextmanager
def pg_engine(url: str) -> Iterator[sa.Engine]:
    admin = sa.create_engine(url)
    schema = "pgw_bench_" + secrets.token_hex(4)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    engine = sa.create_engine(f"{url}{sep}options=-csearch_path%3D{schema}")
    try:
        create_schema(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run(engine: sa.Engine, n: int, threads: int, group: bool) -> dict[str, float]:
    signer = BenchSigner()
    log = AuditLog(engine, signer=signer, group_commit=group, checkpoint_every=1000)
    for i in range(200):  # warm-up: connections, head row, first checkpoint
        log.record("decision", f"warm-{i}", entry(i))
    lat: list[float] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(threads + 1)

    def worker(t: int) -> None:
        mine: list[float] = []
        start_gate.wait()
        for i in range(t, n, threads):
            t0 = time.perf_counter()
            log.record("decision", f"req-{i}", entry(i))
            mine.append(time.perf_counter() - t0)
        with lock:
            lat.extend(mine)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    start_gate.wait()
    t0 = time.perf_counter()
    for th in pool:
        th.join()
    wall = time.perf_counter() - t0
    log.close()
    v0 = time.perf_counter()
    res = verify_log(engine, signer.verify)
    vtime = time.perf_counter() - v0
    assert res.ok and res.size == n + 200, res.summary()
    lat.sort()
    return {"rate": n / wall, "p50": lat[len(lat) // 2] * 1e3,
            "p99": lat[int(len(lat) * 0.99)] * 1e3, "max": lat[-1] * 1e3,
            "mean": statistics.fmean(lat) * 1e3, "verify_rate": res.size / vtime,
            "checkpoints": res.checkpoints}


def _fs_type(path: str) -> str:
    """The filesystem type holding ``path`` (tmpfs would make fsync free: say so)."""
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _, mount, fstype = line.split()[:3]
            if path.startswith(mount) and len(mount) > len(best):
                best, kind = mount, fstype
    except OSError:
        pass
    return kind


def machine(pg_url: str | None) -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [f"{platform.platform()}", f"CPU {cpu} x{os.cpu_count()}",
             f"SQLite file in {tempfile.gettempdir()} ({_fs_type(tempfile.gettempdir())})",
             f"Python {platform.python_version()}", f"SQLite {sqlite3.sqlite_version}",
             f"SQLAlchemy {sa.__version__}"]
    if pg_url:
        try:
            e = sa.create_engine(pg_url)
            with e.connect() as c:
                parts.append(str(c.execute(sa.text("SHOW server_version")).scalar()).join(
                    ("PostgreSQL ", "")))
                parts.append("fsync=" + str(c.execute(sa.text("SHOW fsync")).scalar()))
            e.dispose()
        except sa.exc.OperationalError:
            parts.append("PostgreSQL unreachable")
    return "; ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--modes", default="group,direct")
    ap.add_argument("--direct-n", type=int, default=3000, help="entries in direct mode")
    ap.add_argument("--pg", default=os.environ.get(
        "GATEWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = ap.parse_args()
    backends = args.backends.split(",")
    print("machine:", machine(args.pg if "postgresql" in backends else None))
    print(f"{'backend':<11} {'mode':<7} {'entries':>7} {'threads':>7} {'appends/s':>10} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'verify/s':>9}  target")
    makers: dict[str, Callable[[], Any]] = {
        "sqlite": sqlite_engine, "postgresql": lambda: pg_engine(args.pg)}
    for backend in backends:
        for mode in args.modes.split(","):
            n = args.n if mode == "group" else args.direct_n
            with makers[backend]() as engine:
                r = run(engine, n, args.threads, mode == "group")
            ok = "met" if r["rate"] >= 1000 and r["p99"] <= 50 else "missed"
            print(f"{backend:<11} {mode:<7} {n:>7} {args.threads:>7} {r['rate']:>10.0f} "
                  f"{r['p50']:>7.2f} {r['p99']:>7.2f} {r['max']:>7.1f} "
                  f"{r['verify_rate']:>9.0f}  {ok}", flush=True)


if __name__ == "__main__":
    main()
