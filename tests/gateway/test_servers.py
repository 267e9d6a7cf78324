"""The same pipeline with PostgreSQL as state database and upstream, and with a MariaDB
upstream: same demo rows, same released values as on the embedded defaults."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.demo.load import load_demo
from gateway.settings import Settings
from tests.gateway.helpers import bearer, creds, raw_identifiers

QUERIES: list[tuple[str, str, dict[str, Any]]] = [
    ("op-research", "huji_renkou", {"purpose": "population_research", "limit": 40,
                                    "fields": ["id", "name", "birth_date", "id_card", "phone",
                                               "address", "region_code"]}),
    ("op-hotline", "qiye_dengji", {"limit": 40, "fields": ["id", "legal_rep", "phone",
                                                           "reg_capital", "established"],
                                   "filters": [{"field": "reg_capital", "op": "ge",
                                                "value": 100}]}),
]


def _answers(data_dir: Path, settings: Settings) -> list[Any]:
    tokens = creds(data_dir)
    out = []
    with TestClient(create_app(settings)) as client:
        for who, ds, body in QUERIES:
            r = client.post(f"/v1/datasets/{ds}/query", json=body,
                            headers=bearer(tokens["operators"][who]["token"]))
            assert r.status_code == 200, r.text
            assert raw_identifiers(r.text) == []
            out.append(r.json()["rows"])
            s = client.post(f"/v1/datasets/{ds}/query", json={**body, "limit": None},
                            headers={**bearer(tokens["operators"][who]["token"]),
                                     "Accept": "application/x-ndjson"})
            assert s.status_code == 200
            out.append(len(s.content.splitlines()))
    return out


def _copy_demo(demo_dir: Path, tmp_path: Path, upstream_url: str) -> Path:
    """The demo data dir with its catalog pointed at another upstream database."""
    d = tmp_path / "data"
    shutil.copytree(demo_dir, d)
    cat = (d / "catalog.yaml").read_text(encoding="utf-8")
    (d / "catalog.yaml").write_text(
        cat.replace('url: "sqlite:///${DATA_DIR}/demo-upstream.db"', f'url: "{upstream_url}"'),
        encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def baseline(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    return _answers(demo_dir, Settings(data_dir=demo_dir))


@pytest.mark.postgres
def test_postgres_state_and_upstream(demo_dir: Path, tmp_path: Path, pg_schema_url: str,
                                     baseline: list[Any]) -> None:
    n = sa.create_engine(f"sqlite:///{demo_dir / 'demo-upstream.db'}")
    with n.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM qiye_dengji")).scalar_one()
    n.dispose()
    up = sa.create_engine(pg_schema_url)
    load_demo(up, rows)
    up.dispose()
    d = _copy_demo(demo_dir, tmp_path, pg_schema_url)
    # A fresh PostgreSQL state DB: the principals, keys and grants of the demo move with it.
    src = sa.create_engine(f"sqlite:///{d / 'state.db'}")
    dst = sa.create_engine(pg_schema_url)
    from gateway import state
    from keys.store import key_ring

    state.create_schema(dst)
    with src.connect() as s, dst.begin() as t:
        # Principals, keys, grants and the key ring move; the audit log starts afresh.
        for table in [*state.metadata.sorted_tables, key_ring]:
            data = [dict(r._mapping) for r in s.execute(sa.select(table))]
            if data:
                t.execute(sa.insert(table), data)
    src.dispose()
    dst.dispose()
    got = _answers(d, Settings(data_dir=d, state_url=pg_schema_url))
    assert got == baseline


@pytest.mark.mariadb
def test_mariadb_upstream(demo_dir: Path, tmp_path: Path, mariadb_url: str,
                          baseline: list[Any]) -> None:
    n = sa.create_engine(f"sqlite:///{demo_dir / 'demo-upstream.db'}")
    with n.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM qiye_dengji")).scalar_one()
    n.dispose()
    up = sa.create_engine(mariadb_url)
    load_demo(up, rows)
    up.dispose()
    d = _copy_demo(demo_dir, tmp_path, mariadb_url)
    assert _answers(d, Settings(data_dir=d)) == baseline
