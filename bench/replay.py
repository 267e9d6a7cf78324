"""Replay rate: recorded decisions re-decided per second under a candidate (not a test).

    .venv/bin/python bench/replay.py [--n 100000] [--workers 2] [--shapes 600]

1. Builds ``--shapes`` varied, realistic policy inputs over the demo catalog (five
   datasets; rows / aggregate / verify; grants active, expired, suspended, missing;
   granted and ungranted purposes and fields; hashed filters on personal fields) and
   decides each with the real policy in ``policies/`` (the recorded decision).
2. Writes ``--n`` decision entries, each a random shape with its own request id, time,
   usage counters, client address, key id and filter hashes, into a temporary SQLite
   state database's audit log. Bulk path: ``store.append`` under ``store.locked_head``
   in batches of 5,000 (the same Merkle tree and leaf format ``AuditLog.record`` writes,
   without one thread per entry).
3. Times ``replay`` under ``policies/`` itself (every decision must come out unchanged:
   a check that the varied parts are really decision-neutral) and under a modified
   candidate (k_min 5→3, default max_rows 10000→50000, purpose
   ``service_quality_analysis`` denied), printing decisions/s and the summaries.
Target: 100,000 decisions in ≤ 60 s. Go's GC setting matters (~40 %): run it as
``GOGC=400 .venv/bin/python bench/replay.py`` too. GOGC is read when the OPA library
loads from the environment the process started with; setting it from Python is too late.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.auditlog import create_schema, store
from gateway.auditlog.entries import canonical_json, index_fields
from gateway.policy.bundle import load_policy_dir
from gateway.policy.embedded import DECISION_QUERY, load_engine
from gateway.policy.replay import render_summary, replay

PURPOSES = ["population_research", "service_quality_analysis", "traffic_planning", "marketing"]
NOW = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)


def catalog() -> list[dict[str, Any]]:
    doc = yaml.safe_load((ROOT / "gateway/demo/catalog.yaml").read_text(encoding="utf-8"))
    out = []
    for ds in doc["datasets"]:
        fields = {f["name"]: {k: f[k] for k in ("pii", "level", "quasi_identifier", "operator",
                                                 "free_text", "type")} for f in ds["fields"]}
        out.append({"id": ds["id"], "open_class": ds["open_class"], "owner": ds["owner"],
                    "fields": fields})
    return out


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def shape(rng: random.Random, datasets: list[dict[str, Any]], i: int) -> dict[str, Any]:
    """One decision-relevant input (time, usage and ids are filled in per entry)."""
    ds = rng.choice(datasets)
    names = list(ds["fields"])
    action = rng.choices(["rows", "aggregate", "verify"], [80, 15, 5])[0]
    purpose = rng.choice(PURPOSES)
    fields = rng.sample(names, rng.randint(2, min(7, len(names))))
    if rng.random() < 0.02:
        fields.append("nope")
    plain = [n for n in names if not ds["fields"][n]["pii"] and not ds["fields"][n]["free_text"]]
    request: dict[str, Any] = {"purpose": purpose, "scenario": "", "filters": []}
    if action == "rows":
        request.update(fields=fields, limit=rng.choice([20, 100, 1000]))
    elif action == "aggregate":
        request.update(dimensions=rng.sample(plain, min(2, len(plain))),
                       measures=[{"op": "count"}])
    else:
        request.update(claim_fields=fields[:2])
    for _ in range(rng.randint(0, 2)):
        name = rng.choice(names)
        request["filters"].append({"field": name, "op": "eq", "value": None})
    granted = ds["open_class"] != "unconditional" or action == "verify" or rng.random() < 0.2
    grant = None
    if granted and rng.random() < 0.9:
        roll = rng.random()
        start = NOW - dt.timedelta(days=400 if roll < 0.04 else 30)
        ops = rng.choice([{}, {"id_card": {"operator": "pseudonymize", "params": {}}},
                          {"birth_date": {"operator": "generalize", "params": {"to": "year"}}}])
        grant = {
            "id": f"g-{i % 97}", "kind": rng.choice(["application", "license"]),
            "dataset_id": ds["id"], "operator_id": f"op-{i % 23}",
            "status": "suspended" if 0.04 <= roll < 0.07 else "active",
            "valid_from": iso(start), "valid_to": iso(start + dt.timedelta(days=365)),
            "modes": [action] if rng.random() < 0.95 else ["rows"],
            "purposes": [purpose] if rng.random() < 0.9 else ["population_research"],
            "fields": sorted(set(fields) | set(request.get("dimensions", [])))
            if rng.random() < 0.9 else fields[:1],
            "operators": ops, "fee_mode": "free", "source": None,
            "quota": {"max_rows_per_request": rng.choice([1000, 5000, 100000]),
                      **({"k_min": 10, "epsilon_per_request": 0.5, "epsilon_total": 10}
                         if action == "aggregate" else {})},
            "row_filter": [{"field": "region_code", "op": "prefix", "value": "36"}]
            if rng.random() < 0.3 else None,
        }
    roles = ["operator"] if rng.random() < 0.97 else ["auditor"]
    return {"subject": {"operator_id": f"op-{i % 23}", "org_uscc": "12360000MB1234567J",
                        "roles": roles, "key_id": ""},
            "action": action, "dataset": ds, "request": request, "grant": grant,
            "usage": {}, "env": {"now": "", "client_ip": ""}}


def fill(rng: random.Random, base: dict[str, Any], n: int,
         now: dt.datetime) -> dict[str, Any]:
    """Per-entry, decision-neutral variation: time (inside every grant's term), usage,
    client address, key id, filter values (keyed hashes on personal fields)."""
    request = dict(base["request"])
    filters = []
    for f in request["filters"]:
        spec = base["dataset"]["fields"][f["field"]]
        value = (f"hmac-sha256:mk-1:{rng.getrandbits(128):032x}" if spec["pii"]
                 or spec["free_text"] else str(rng.randint(1, 9999)))
        filters.append({**f, "value": value})
    request["filters"] = filters
    doc = {**base, "request": request,
           "subject": {**base["subject"], "key_id": f"{rng.getrandbits(64):016x}"},
           "usage": {"rows_today": rng.randint(0, 5000), "rows_total": rng.randint(0, 10**6),
                     "requests_this_minute": rng.randint(0, 20)},
           "env": {"now": iso(now), "client_ip": f"10.{n % 250}.{rng.randint(0, 250)}.7"}}
    return doc


def generate(db: sa.Engine, n: int, n_shapes: int, seed: int) -> None:
    rng = random.Random(seed)
    datasets = catalog()
    engine = load_engine(load_policy_dir(ROOT / "policies"))
    shapes = []
    for i in range(n_shapes):
        base = shape(rng, datasets, i)
        probe = fill(rng, base, i, NOW)
        shapes.append((base, engine.eval_query(DECISION_QUERY, probe)[0]["decision"]))
    engine.close()
    version = load_policy_dir(ROOT / "policies").hash
    create_schema(db)
    store.ensure_head(db)
    batch: list[store.Pending] = []
    start, step = NOW - dt.timedelta(days=5), dt.timedelta(days=5) / max(1, n)
    times: list[dt.datetime] = []
    for k in range(n):
        base, doc = rng.choice(shapes)
        now = start + k * step
        pin = fill(rng, base, k, now)
        entry = {"time": now.isoformat(), "request_id": f"req-{k:08x}", "action": pin["action"],
                 "principal": {"operator_id": pin["subject"]["operator_id"]},
                 "dataset": pin["dataset"]["id"], "purpose": pin["request"]["purpose"],
                 "grant_id": (pin["grant"] or {}).get("id"), "policy_engine": "embedded-opa",
                 "policy_version": version, "policy_input": pin,
                 "decision": {"allow": doc["allow"], "reasons": doc["reasons"]},
                 "decision_doc": doc}
        batch.append(store.Pending("decision", entry["request_id"], canonical_json(entry),
                                   index_fields(entry)))
        times.append(now)
        if len(batch) == 5000 or k == n - 1:
            clock = iter(times).__next__
            with store.locked_head(db, durable=False) as (conn, head):
                store.append(conn, head, batch, clock)
            batch, times = [], []


def modified_policies(tmp: Path) -> Path:
    dst = tmp / "candidate"
    shutil.copytree(ROOT / "policies", dst)
    data = json.loads((dst / "data.json").read_text())
    data["gateway_config"].update(k_min=3, default_max_rows=50000)
    (dst / "data.json").write_text(json.dumps(data, ensure_ascii=False))
    (dst / "gateway" / "suspend.rego").write_text(
        "package gateway\n\n"
        '_deny contains "purpose_suspended: service quality analysis is suspended" if {\n'
        '\tinput.request.purpose == "service_quality_analysis"\n}\n')
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shapes", type=int, default=600)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = sa.create_engine(f"sqlite:///{tmp}/state.db")
        t0 = time.perf_counter()
        generate(db, args.n, args.shapes, args.seed)
        size = os.path.getsize(f"{tmp}/state.db") / 2**20
        print(f"generated {args.n} decision entries ({args.shapes} shapes, {size:.0f} MiB) "
              f"in {time.perf_counter() - t0:.1f} s; cpus {os.cpu_count()}, "
              f"GOGC={os.environ.get('GOGC', 'default')}, load {os.getloadavg()[0]:.2f}")
        for label, path in (("same policies", ROOT / "policies"),
                            ("modified candidate", modified_policies(Path(tmp)))):
            summary = replay(db, load_policy_dir(path), workers=args.workers)
            s = summary.to_json()
            print(f"\n== {label}: {s['total']} decisions in {s['elapsed_s']} s = "
                  f"{s['decisions_per_s']:.0f} decisions/s ({args.workers} workers) "
                  f"{'MEETS' if s['elapsed_s'] * 100_000 / max(1, s['total']) <= 60 else 'MISSES'}"
                  " the 100k ≤ 60 s target")
            print(render_summary(summary))
        db.dispose()


if __name__ == "__main__":
    main()
