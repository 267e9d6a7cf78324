"""Quality check: the shared synthetic government tables (../shared/data/synthetic-dev/
tables) released through the gateway with the demo policy — how many labelled personal
values come out in clear, per type. Every table is declared `unconditional` so that every
column is released (the worst case); `pii` columns are declared with their type, free text
as free text, everything else as plain (so the safety net is what protects it).

    python bench/tables_release.py [--data ../shared/data/synthetic-dev/tables]

Not a test (the shared data is not part of the repository).
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build(tables: Path, d: Path) -> list[str]:
    schema = json.loads((tables / "schema.json").read_text(encoding="utf-8"))
    up = sa.create_engine(f"sqlite:///{d / 'upstream.db'}")
    datasets = []
    for table, spec in schema.items():
        cols = spec["columns"]
        md = sa.MetaData()
        t = sa.Table(table, md, sa.Column("row_id", sa.Integer, primary_key=True),
                     *[sa.Column(c["key"], sa.Text) for c in cols])
        md.create_all(up)
        rows = []
        for i, line in enumerate((tables / f"{table}.jsonl").open(encoding="utf-8")):
            rec = json.loads(line)
            rows.append({"row_id": i + 1, **{c["key"]: rec["fields"][c["header"]]
                                            for c in cols}})
        with up.begin() as conn:
            conn.execute(sa.insert(t), rows)
        fields: list[dict[str, Any]] = [{"name": "row_id", "type": "integer"}]
        for c in cols:
            f: dict[str, Any] = {"name": c["key"], "title": c["header"]}
            if c["role"] == "pii":
                f.update(pii=c["type"], level=3)
            elif c["role"] == "text":
                f.update(free_text=True, level=3)
            elif c["type"] == "DATE_OF_BIRTH":
                f.update(pii="DATE_OF_BIRTH", level=3)
            fields.append(f)
        datasets.append({"id": table, "upstream": "shared", "table": table, "key": "row_id",
                         "open_class": "unconditional", "owner": spec["name"],
                         "fields": fields})
    up.dispose()
    (d / "catalog.yaml").write_text(yaml.safe_dump(
        {"upstreams": {"shared": {"url": f"sqlite:///{d / 'upstream.db'}"}},
         "datasets": datasets}, allow_unicode=True), encoding="utf-8")
    return list(schema)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/synthetic-dev/tables")
    args = ap.parse_args()
    from gateway import auth
    from gateway.api.app import create_app
    from gateway.settings import Settings
    from gateway.setup import init_data_dir

    d = Path(tempfile.mkdtemp(prefix="pgw-tables-"))
    try:
        init_data_dir(Settings(data_dir=d), demo=False, rows=0, echo=lambda m: None)
        names = build(args.data, d)
        from gateway import state

        eng = state.make_engine(f"sqlite:///{d / 'state.db'}")
        auth.create_principal(eng, "op", "operator", roles=["operator"])
        token = auth.create_api_key(eng, "op", "operator")[1]
        eng.dispose()
        leaks: dict[str, collections.Counter[str]] = {}
        totals: collections.Counter[str] = collections.Counter()
        with TestClient(create_app(Settings(data_dir=d))) as client:
            for table in names:
                r = client.post(f"/v1/datasets/{table}/query", json={},
                                headers={"Authorization": f"Bearer {token}",
                                         "Accept": "application/x-ndjson"})
                assert r.status_code == 200, r.text[:300]
                out = [json.loads(x) for x in r.content.splitlines()
                       if not x.startswith(b'{"_receipt"')]
                by_id = {row["row_id"]: row for row in out}
                c: collections.Counter[str] = collections.Counter()
                for i, line in enumerate((args.data / f"{table}.jsonl").open(encoding="utf-8")):
                    rec = json.loads(line)
                    released = json.dumps(by_id[i + 1], ensure_ascii=False)
                    values = [(lab["type"], lab["value"]) for lab in rec["labels"]]
                    for cell in rec.get("cell_entities", {}).values():
                        values += [(e["type"], e["value"]) for e in cell["entities"]]
                    for typ, value in values:
                        totals[typ] += 1
                        if value in released:
                            c[typ] += 1
                leaks[table] = c
        print(f"{'table':18} leaked values in clear (of labelled personal values)")
        for table, c in leaks.items():
            print(f"{table:18} {dict(c) or 'none'}")
        all_leaks = sum((c for c in leaks.values()), collections.Counter())
        print("total labelled:", dict(totals))
        print("total leaked:  ", dict(all_leaks) or "none")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
