"""The demo loader on SQLite, PostgreSQL and MariaDB, and the demo catalog.

PostgreSQL and MariaDB are required: an unreachable server FAILS the test with the URL
(set GATEWAY_TEST_POSTGRES_URL / GATEWAY_TEST_MARIADB_URL), it is never skipped.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from gateway.demo import CATALOG_PATH
from gateway.demo.generate import COLUMNS, TABLES, generate_rows
from gateway.demo.load import load_demo, load_table, table_schema

PG_URL = os.environ.get(
    "GATEWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get(
    "GATEWAY_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"
)


def _server(url: str, what: str, env: str) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return engine
    except sa.exc.DBAPIError as exc:
        error = f"{type(exc.orig).__name__}: {exc.orig}"
    engine.dispose()
    pytest.fail(
        f"{what} is not reachable at {sa.make_url(url).render_as_string(hide_password=True)} "
        f"(set {env} to a reachable server): {error}",
        pytrace=False,
    )


def _count(engine: sa.Engine, table: str, schema: str | None = None) -> int:
    t = table_schema(sa.MetaData(schema=schema), table)
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())


def _fetch(
    engine: sa.Engine, table: str, ids: list[int], schema: str | None = None
) -> list[dict[str, Any]]:
    t = table_schema(sa.MetaData(schema=schema), table)
    with engine.connect() as conn:
        result = conn.execute(sa.select(t).where(t.c.id.in_(ids)).order_by(t.c.id))
        return [dict(r._mapping) for r in result]


def _expected(table: str, ids: list[int]) -> list[dict[str, Any]]:
    by_id = {r["id"]: r for r in generate_rows(table, max(ids))}
    return [by_id[i] for i in ids]


def _assert_roundtrip(engine: sa.Engine, n: int, schema: str | None = None) -> None:
    ids = [1, 2, n // 2, n]
    for table in TABLES:
        assert _fetch(engine, table, ids, schema) == _expected(table, ids), table


# --- SQLite -------------------------------------------------------------------------------


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'demo-upstream.db'}")
    yield engine
    engine.dispose()


def test_sqlite_load_demo(sqlite_engine: sa.Engine) -> None:
    counts = load_demo(sqlite_engine, 1200)
    assert counts == {t: 1200 for t in TABLES}
    insp = sa.inspect(sqlite_engine)
    for table in TABLES:
        assert _count(sqlite_engine, table) == 1200
        assert [c["name"] for c in insp.get_columns(table)] == list(COLUMNS[table])
        assert insp.get_pk_constraint(table)["constrained_columns"] == ["id"]
        assert [i["column_names"] for i in insp.get_indexes(table)] == [["region_code"]]
    _assert_roundtrip(sqlite_engine, 1200)


def test_sqlite_replace_append_and_progress(sqlite_engine: sa.Engine) -> None:
    seen: list[int] = []
    assert (
        load_table(sqlite_engine, "cheliang_dengji", 2500, progress=seen.append, batch_size=1000)
        == 2500
    )
    assert seen == [1000, 2000, 2500]
    assert load_table(sqlite_engine, "cheliang_dengji", 300, replace=False) == 300
    assert _count(sqlite_engine, "cheliang_dengji") == 2800
    ids = [2500, 2501, 2800]  # appended rows continue the id sequence of the generator
    assert _fetch(sqlite_engine, "cheliang_dengji", ids) == _expected("cheliang_dengji", ids)
    assert load_table(sqlite_engine, "cheliang_dengji", 10) == 10  # replace=True by default
    assert _count(sqlite_engine, "cheliang_dengji") == 10
    assert load_table(sqlite_engine, "qiye_dengji", 5, replace=False) == 5  # creates it
    with pytest.raises(ValueError, match="unknown demo table"):
        load_table(sqlite_engine, "nope", 1)


def test_table_schema_types() -> None:
    md = sa.MetaData()
    t = table_schema(md, "tousu_gongdan")
    assert table_schema(md, "tousu_gongdan") is t
    assert isinstance(t.c.id.type, sa.Integer) and t.c.id.primary_key
    assert isinstance(t.c.accepted_at.type, sa.DateTime)
    assert isinstance(table_schema(md, "huji_renkou").c.birth_date.type, sa.Date)
    assert isinstance(table_schema(md, "qiye_dengji").c.reg_capital.type, sa.Numeric)
    assert all(c.type.length for c in t.columns if isinstance(c.type, sa.String))


# --- PostgreSQL ---------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_copy_load() -> None:
    engine = _server(PG_URL, "PostgreSQL", "GATEWAY_TEST_POSTGRES_URL")
    schema = f"demo_test_{uuid.uuid4().hex[:10]}"
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        assert load_demo(engine, 1500, schema=schema) == {t: 1500 for t in TABLES}
        for table in TABLES:
            assert _count(engine, table, schema) == 1500
        _assert_roundtrip(engine, 1500, schema)
        seen: list[int] = []
        assert (
            load_table(engine, "huji_renkou", 25_000, schema=schema, progress=seen.append) == 25_000
        )
        assert seen == [10_000, 20_000, 25_000]
        assert load_table(engine, "huji_renkou", 100, schema=schema, replace=False) == 100
        assert _count(engine, "huji_renkou", schema) == 25_100
        indexes = sa.inspect(engine).get_indexes("huji_renkou", schema=schema)
        assert [i["column_names"] for i in indexes] == [["region_code"]]
        row = _fetch(engine, "qiye_dengji", [3], schema)[0]
        assert isinstance(row["reg_capital"], Decimal) and isinstance(row["established"], dt.date)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


# --- MariaDB ------------------------------------------------------------------------------


@pytest.mark.mariadb
def test_mariadb_load() -> None:
    engine = _server(MARIADB_URL, "MariaDB", "GATEWAY_TEST_MARIADB_URL")
    schema = f"demo_test_{uuid.uuid4().hex[:10]}"
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE DATABASE `{schema}` CHARACTER SET utf8mb4"))
        assert load_demo(engine, 1100, schema=schema) == {t: 1100 for t in TABLES}
        for table in TABLES:
            assert _count(engine, table, schema) == 1100
        _assert_roundtrip(engine, 1100, schema)  # Chinese text survives utf8mb4
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{schema}`"))
        engine.dispose()


# --- catalog ------------------------------------------------------------------------------

_PII = {
    "PERSON",
    "LOCATION",
    "ID_CARD",
    "PHONE_NUMBER",
    "USCC",
    "BANK_CARD",
    "EMAIL_ADDRESS",
    "LICENSE_PLATE",
    "PASSPORT",
    "IP_ADDRESS",
    "DATE_OF_BIRTH",
    None,
}
_OPERATORS = {"keep", "mask", "pseudonymize", "generalize", "suppress", "redact", "scrub"}
_CLASSES = {
    "qiye_dengji": "unconditional",
    "huji_renkou": "conditional",
    "tousu_gongdan": "conditional",
    "cheliang_dengji": "conditional",
    "shebao_jiaona": "not_open",
}
_QI = {"gender", "birth_date", "region_code", "postal_code", "ethnicity"}


def _catalog_type(col: sa.Column[Any]) -> str:
    for sql_type, name in (
        (sa.Integer, "integer"),
        (sa.Numeric, "number"),
        (sa.DateTime, "datetime"),
        (sa.Date, "date"),
        (sa.String, "string"),
    ):
        if isinstance(col.type, sql_type):
            return name
    raise AssertionError(col.type)


def test_catalog_declares_every_column() -> None:
    doc = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))
    assert doc["upstreams"]["demo"]["url"] == "sqlite:///${DATA_DIR}/demo-upstream.db"
    datasets = {d["id"]: d for d in doc["datasets"]}
    assert set(datasets) == set(TABLES) and len(doc["datasets"]) == len(TABLES)
    md = sa.MetaData()
    for table, d in datasets.items():
        assert d["upstream"] == "demo" and d["table"] == table and d["key"] == "id"
        assert d["open_class"] == _CLASSES[table]
        assert d["title"] and d["description"] and d["owner"] and d["registration_code"]
        t = table_schema(md, table)
        assert [f["name"] for f in d["fields"]] == [c.name for c in t.columns], table
        for f, col in zip(d["fields"], t.columns):
            where = f"{table}.{f['name']}"
            assert f["title"], where
            assert f["type"] == _catalog_type(col), where
            assert f["pii"] in _PII, where
            assert f["level"] in (1, 2, 3, 4), where
            assert f["quasi_identifier"] is (f["name"] in _QI), where
            assert f["operator"] in _OPERATORS, where
            assert f["free_text"] is (f["name"] == "description"), where
            if f["free_text"]:
                assert f["operator"] == "scrub", where
            if f["pii"] in ("ID_CARD", "BANK_CARD"):
                assert f["level"] == 4 and f["operator"] != "keep", where
