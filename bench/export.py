"""Export benchmark: 1,000,000 rows x 8 columns (4 personal) as NDJSON through the gateway
(HTTP, uvicorn, real OPA decision, desensitization) from PostgreSQL, against a plain
``SELECT`` streamed to NDJSON with psycopg from the same table in the same run.

    python bench/export.py [--rows 1000000] [--pg postgresql://postgres@127.0.0.1:5432/test]

Prints rows/s for both and the ratio (target: gateway <= 1.5x the plain export's time).
Not a test: it never fails on a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import psycopg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIELDS = ["id", "name", "gender", "id_card", "phone", "address", "region_code", "reg_date"]
SCHEMA = "pgw_bench"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_table(pg: str, rows: int) -> None:
    from gateway.demo.load import load_table

    eng = sa.create_engine(pg.replace("postgresql://", "postgresql+psycopg://", 1))
    with eng.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    eng.dispose()
    url = pg.replace("postgresql://", "postgresql+psycopg://", 1) + \
        f"?options=-csearch_path%3D{SCHEMA}"
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            have = conn.execute(sa.text("SELECT count(*) FROM huji_renkou")).scalar_one()
    except sa.exc.ProgrammingError:
        have = -1
    if have != rows:
        t = time.perf_counter()
        print(f"loading {rows:,} rows into {SCHEMA}.huji_renkou ...", file=sys.stderr)
        load_table(eng, "huji_renkou", rows, replace=True)
        print(f"  loaded in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    eng.dispose()


def plain_export(pg: str) -> tuple[int, int, float]:
    cols = ", ".join(FIELDS)
    t = time.perf_counter()
    n = size = 0
    with psycopg.connect(pg, options=f"-csearch_path={SCHEMA}") as conn:
        with conn.cursor(name="bench") as cur:
            cur.itersize = 5000
            cur.execute(f"SELECT {cols} FROM huji_renkou ORDER BY id")
            while True:
                batch = cur.fetchmany(5000)
                if not batch:
                    break
                chunk = b"\n".join(orjson.dumps(dict(zip(FIELDS, r))) for r in batch) + b"\n"
                size += len(chunk)
                n += len(batch)
    return n, size, time.perf_counter() - t


def setup_gateway(pg: str, data_dir: Path, rows: int) -> str:
    """Initialise a data dir whose catalog points at the PostgreSQL table; return a token."""
    import yaml

    from gateway import auth, grants, state
    from gateway.catalog import Catalog, parse_catalog_file
    from gateway.demo import CATALOG_PATH
    from gateway.settings import Settings
    from gateway.setup import init_data_dir

    s = Settings(data_dir=data_dir)
    init_data_dir(s, demo=False, rows=0, echo=lambda m: None)
    cat = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))
    cat["upstreams"] = {"demo": {"url": pg.replace("postgresql://", "postgresql+psycopg://", 1)
                                 + f"?options=-csearch_path%3D{SCHEMA}"}}
    cat["datasets"] = [d for d in cat["datasets"] if d["id"] == "huji_renkou"]
    (data_dir / "catalog.yaml").write_text(yaml.safe_dump(cat, allow_unicode=True))
    engine = state.make_engine(s.resolved_state_url())
    Catalog(engine).load_file(parse_catalog_file(data_dir / "catalog.yaml", data_dir))
    auth.create_principal(engine, "op-bench", "bench", roles=["operator"])
    token = auth.create_api_key(engine, "op-bench", "operator")[1]
    spec = grants.GrantSpec.model_validate({
        "operator_id": "op-bench", "dataset_id": "huji_renkou", "fields": FIELDS,
        "purposes": ["bench"], "quota": {"max_rows_per_request": rows},
        "valid_from": "2020-01-01T00:00:00Z", "valid_to": "2099-01-01T00:00:00Z"})
    grants.create_grant(engine, spec, Catalog(engine).get("huji_renkou"))
    engine.dispose()
    return token


def gateway_export(port: int, token: str) -> tuple[int, int, float, float]:
    t = time.perf_counter()
    first = None
    n = size = 0
    with httpx.stream("POST", f"http://127.0.0.1:{port}/v1/datasets/huji_renkou/query",
                      json={"fields": FIELDS, "purpose": "bench"}, timeout=600,
                      headers={"Authorization": f"Bearer {token}",
                               "Accept": "application/x-ndjson"}) as r:
        if r.status_code != 200:
            raise SystemExit(f"gateway answered {r.status_code}: {r.read()[:500]!r}")
        tail = b""
        for chunk in r.iter_bytes():
            if first is None:
                first = time.perf_counter() - t
            size += len(chunk)
            n += chunk.count(b"\n")
            tail = (tail + chunk)[-4096:]
    if b'{"_receipt"' in tail:
        n -= 1  # the receipt trailer record is not a row
    return n, size, time.perf_counter() - t, first or 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--pg", default=os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test"))
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    ensure_table(args.pg, args.rows)
    data_dir = Path(tempfile.mkdtemp(prefix="pgw-bench-"))
    try:
        token = setup_gateway(args.pg, data_dir, args.rows)
        port = _free_port()
        env = {**os.environ, "GATEWAY_DATA_DIR": str(data_dir)}
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "gateway.api.main:app",
                                 "--port", str(port), "--log-level", "warning"],
                                env=env, cwd=ROOT)
        try:
            for _ in range(100):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            else:
                raise SystemExit("gateway did not become ready")
            pn, psize, pt = plain_export(args.pg)
            gn, gsize, gt, first = gateway_export(port, token)
        finally:
            proc.terminate()
            proc.wait(10)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"plain psycopg SELECT -> NDJSON: {pn:,} rows, {psize/1e6:.0f} MB in {pt:.2f} s "
          f"= {pn/pt:,.0f} rows/s")
    print(f"gateway NDJSON export (HTTP, policy, 4 PII columns desensitized): {gn:,} rows, "
          f"{gsize/1e6:.0f} MB in {gt:.2f} s = {gn/gt:,.0f} rows/s (first byte {first*1e3:.0f} ms)")
    print(f"ratio gateway/plain time: {gt/pt:.2f}x (target <= 1.5x)")
    print(json.dumps({"plain_rows_per_s": round(pn / pt), "gateway_rows_per_s": round(gn / gt),
                      "ratio": round(gt / pt, 3), "rows": gn}))


if __name__ == "__main__":
    main()
