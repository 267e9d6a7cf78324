"""Policy decision latency and throughput with the embedded OPA (not a test).

    .venv/bin/python bench/decide.py [--n 20000] [--threads 1,2]

Prints p50/p99/p99.9 of ``EmbeddedOpaEngine.decide`` (worker hand-off and
timeout included) and of a bare reused ``OpaEngine.eval_query`` on the same
input, then decisions/s with 1..N caller threads (one engine per worker
thread). Target: decide p99 <= 1 ms.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.policy.bundle import PolicyBundle, load_policy_dir  # noqa: E402
from gateway.policy.embedded import DECISION_QUERY, EmbeddedOpaEngine, load_engine  # noqa: E402


def realistic_input() -> dict[str, Any]:
    """A conditional-open request under an active license, eight fields."""
    fields: dict[str, dict[str, Any]] = {
        "name": {"pii": "PERSON", "operator": "mask"},
        "id_no": {"pii": "ID_CARD", "operator": None},
        "phone": {"pii": "PHONE_NUMBER", "operator": None},
        "birth_date": {"pii": "DATE_OF_BIRTH", "operator": None},
        "address": {"pii": "LOCATION", "operator": None},
        "gender": {"pii": None, "operator": None},
        "region_code": {"pii": None, "operator": None},
        "remark": {"pii": None, "operator": None, "free_text": True},
    }
    for spec in fields.values():
        spec.update({"level": 3 if spec["pii"] else 1, "quasi_identifier": spec["pii"] is None})
        spec.setdefault("free_text", False)
    names = list(fields)
    return {
        "subject": {
            "operator_id": "op-1",
            "org_uscc": "91310110666007217T",
            "roles": ["operator"],
            "key_id": "k-1",
        },
        "action": "rows",
        "dataset": {
            "id": "huji_renkou",
            "open_class": "conditional",
            "owner": "市公安局",
            "fields": fields,
        },
        "request": {
            "fields": names,
            "filters": [{"field": "gender", "op": "eq", "value": "男"}],
            "purpose": "research",
            "scenario": "人口结构研究",
            "limit": 100,
        },
        "grant": {
            "id": "g-1",
            "kind": "license",
            "status": "active",
            "fields": names,
            "purposes": ["research", "statistics"],
            "modes": ["rows", "aggregate"],
            "row_filter": [{"field": "region_code", "op": "in", "value": ["360102"]}],
            "valid_from": "2026-01-01T00:00:00Z",
            "valid_to": "2027-01-01T00:00:00Z",
            "quota": {"max_rows_per_request": 100000},
            "fee_mode": "free",
            "operators": {"name": {"operator": "pseudonymize", "params": {}}},
        },
        "usage": {"rows_today": 120, "requests_this_minute": 3},
        "env": {"now": "2026-11-29T05:00:00Z", "client_ip": "127.0.0.1"},
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"{platform.node()} | {platform.system()} {platform.release()} | {cpu} x "
        f"{os.cpu_count()} | load {load} | Python {platform.python_version()} | "
        f"opa-golib-python-bindings {version('opa-golib-python-bindings')} (OPA v1.20.2) | "
        f"GOGC={os.environ.get('GOGC', 'default')}"
    )


def latencies(call: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def report(label: str, samples: list[float]) -> None:
    s = sorted(samples)
    q = statistics.quantiles(s, n=1000)
    print(
        f"{label:<34} p50 {s[len(s) // 2] * 1e3:6.3f} ms  p99 {q[989] * 1e3:6.3f} ms  "
        f"p99.9 {q[998] * 1e3:6.3f} ms  max {s[-1] * 1e3:6.3f} ms"
    )


def throughput(call: Callable[[], object], threads: int, per_thread: int) -> float:
    barrier = threading.Barrier(threads + 1)

    def run() -> None:
        barrier.wait()
        for _ in range(per_thread):
            call()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    return threads * per_thread / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="decisions for the latency run")
    parser.add_argument("--threads", default="1,2", help="caller thread counts, comma-separated")
    args = parser.parse_args()
    counts = [int(t) for t in args.threads.split(",")]

    print(machine())
    bundle = load_policy_dir(ROOT / "policies")
    doc = realistic_input()
    with EmbeddedOpaEngine(bundle, workers=max(counts)) as engine:
        decision = engine.decide(doc)
        assert decision.allow, decision.reasons
        print(f"policy {bundle.hash[:12]}  decision: allow, {len(decision.fields)} fields")
        latencies(lambda: engine.decide(doc), 1000)  # warm every worker's prepared query
        report("EmbeddedOpaEngine.decide", latencies(lambda: engine.decide(doc), args.n))
        raw = load_engine(bundle)
        latencies(lambda: raw.eval_query(DECISION_QUERY, doc), 1000)
        report(
            "OpaEngine.eval_query (no hand-off)",
            latencies(lambda: raw.eval_query(DECISION_QUERY, doc), args.n),
        )
        raw.close()
        for t in counts:
            rate = throughput(lambda: engine.decide(doc), t, max(2000, args.n // (2 * t)))
            print(f"decide, {t} caller thread(s), {max(counts)} engine workers: {rate:8.0f}/s")
    for t in counts:
        rate = bare_throughput(bundle, doc, t, max(2000, args.n // (2 * t)))
        print(f"eval_query, {t} thread(s), one engine each:    {rate:8.0f}/s")


def bare_throughput(bundle: PolicyBundle, doc: dict[str, Any], threads: int, per: int) -> float:
    """Decisions/s of bare ``OpaEngine.eval_query``, one engine per thread."""
    engines = [load_engine(bundle) for _ in range(threads)]
    local = threading.local()
    pool = iter(engines)
    lock = threading.Lock()

    def call() -> object:
        if not hasattr(local, "engine"):
            with lock:
                local.engine = next(pool)
        return local.engine.eval_query(DECISION_QUERY, doc)

    try:
        return throughput(call, threads, per)
    finally:
        for engine in engines:
            engine.close()


if __name__ == "__main__":
    main()
