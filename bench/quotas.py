"""Quota counter throughput: admit + settle per second on each backend (not a test).

    .venv/bin/python bench/quotas.py [--n 2000] [--threads 1,16] [--backends sqlite,postgres,redis]

Every thread admits against ONE grant (the worst case: all contend for the same counter
rows / keys), requesting 25 rows and settling 20. Prints admits/s and p50/p99 latency of
admit, and checks the final counters equal what was settled.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis
import sqlalchemy as sa

from gateway import state
from gateway.quota_redis import RedisQuotas
from gateway.quotas import DbQuotas, QuotaCounter

PG_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
QUOTA = {"requests_per_minute": 10**9, "rows_per_day": 10**12, "rows_total": 10**12}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.node()} | {cpu} x {os.cpu_count()} | load {os.getloadavg()[0]:.2f} | "
            f"Python {platform.python_version()}")


@contextmanager
def backend(name: str) -> Iterator[QuotaCounter]:
    if name == "redis":
        prefix = "pgw_bench_" + secrets.token_hex(4)
        q = RedisQuotas(REDIS_URL, prefix=prefix)
        yield q
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=prefix + ":*"))
        if keys:
            client.delete(*keys)
        client.close()
        q.close()
        return
    if name == "sqlite":
        with tempfile.TemporaryDirectory() as d:
            engine = state.make_engine(f"sqlite:///{d}/state.db")
            state.metadata.create_all(engine)
            yield DbQuotas(engine)
            engine.dispose()
        return
    schema = "pgw_bench_" + secrets.token_hex(4)
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(f"{PG_URL}?options=-csearch_path%3D{schema}", pool_size=32)
    try:
        state.metadata.create_all(engine, tables=[state.metadata.tables["quota_counters"]])
        yield DbQuotas(engine)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run(q: QuotaCounter, threads: int, n: int) -> tuple[float, list[float]]:
    now = dt.datetime.now(dt.UTC)
    lat: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)
    per = n // threads

    def work() -> None:
        mine = []
        start.wait()
        for _ in range(per):
            t0 = time.perf_counter()
            a = q.admit("bench", QUOTA, now=now, requested_rows=25)
            mine.append(time.perf_counter() - t0)
            a.settle(20)
        with lock:
            lat.extend(mine)

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    assert q.usage("bench", now)["rows_total"] == 20 * per * threads, "counters drifted"
    return per * threads / elapsed, lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--threads", default="1,16")
    ap.add_argument("--backends", default="sqlite,postgres,redis")
    args = ap.parse_args()
    print(machine())
    print(f"{'backend':<10}{'threads':>8}{'admit+settle/s':>16}{'p50 ms':>9}{'p99 ms':>9}")
    for name in args.backends.split(","):
        for threads in (int(t) for t in args.threads.split(",")):
            with backend(name) as q:
                rate, lat = run(q, threads, args.n)
            qs = statistics.quantiles(lat, n=100)
            print(f"{name:<10}{threads:>8}{rate:>16.0f}{qs[49] * 1e3:>9.2f}"
                  f"{qs[98] * 1e3:>9.2f}")


if __name__ == "__main__":
    main()
