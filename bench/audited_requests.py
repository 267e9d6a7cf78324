"""End-to-end audited small requests: requests/s and p50/p99 latency through the whole
gateway over HTTP (auth, grant, OPA decision, query, masking, receipt, two durable audit
appends), with the state database on SQLite or PostgreSQL. Not a test.

    python bench/audited_requests.py [--n 3000] [--concurrency 16] [--state sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG = os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _copy_state_to_pg(data_dir: Path, schema: str) -> str:
    from gateway import state
    from keys.store import key_ring

    admin = sa.create_engine(PG)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = f"{PG}?options=-csearch_path%3D{schema}"
    dst = sa.create_engine(url)
    state.create_schema(dst)
    src = sa.create_engine(f"sqlite:///{data_dir / 'state.db'}")
    with src.connect() as s, dst.begin() as t:
        for table in [*state.metadata.sorted_tables, key_ring]:
            rows = [dict(r._mapping) for r in s.execute(sa.select(table))]
            if rows:
                t.execute(sa.insert(table), rows)
    src.dispose()
    dst.dispose()
    return url


def run(state_kind: str, n: int, concurrency: int) -> dict[str, float]:
    from gateway.settings import Settings
    from gateway.setup import init_data_dir

    d = Path(tempfile.mkdtemp(prefix="pgw-req-"))
    try:
        init_data_dir(Settings(data_dir=d), demo=True, rows=2000, echo=lambda m: None)
        env = {**os.environ, "GATEWAY_DATA_DIR": str(d)}
        if state_kind == "postgresql":
            env["GATEWAY_STATE_URL"] = _copy_state_to_pg(d, "pgw_bench_req")
        token = json.loads((d / "demo-credentials.json").read_text())["operators"][
            "op-research"]["token"]
        port = _port()
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "gateway.api.main:app",
                                 "--port", str(port), "--log-level", "warning"], env=env,
                                cwd=ROOT)
        try:
            for _ in range(200):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            lat: list[float] = []
            lock = threading.Lock()
            body = {"purpose": "population_research", "fields": ["id", "name", "phone"],
                    "limit": 1}
            per = n // concurrency

            def worker() -> None:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                  headers={"Authorization": f"Bearer {token}"}) as c:
                    mine = []
                    for _ in range(per):
                        t = time.perf_counter()
                        r = c.post("/v1/datasets/huji_renkou/query", json=body)
                        mine.append(time.perf_counter() - t)
                        if r.status_code != 200:
                            raise SystemExit(f"status {r.status_code}: {r.text[:300]}")
                    with lock:
                        lat.extend(mine)

            threads = [threading.Thread(target=worker) for _ in range(concurrency)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(10)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    lat.sort()
    return {"requests": len(lat), "rps": len(lat) / wall,
            "p50_ms": statistics.median(lat) * 1e3,
            "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1e3}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--state", default="sqlite,postgresql")
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; one uvicorn worker, client on the same machine")
    for kind in args.state.split(","):
        r = run(kind, args.n, args.concurrency)
        print(f"state={kind:10} {r['requests']} audited requests (2 durable entries + signed "
              f"receipt each): {r['rps']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, "
              f"p99 {r['p99_ms']:.1f} ms")


if __name__ == "__main__":
    main()
