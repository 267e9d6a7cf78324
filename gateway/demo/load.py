"""Load the demo tables into any SQLAlchemy database (SQLite, PostgreSQL, MariaDB/MySQL).

Rows stream from :mod:`gateway.demo.generate` in batches: executemany inside one
transaction, or ``COPY ... FROM STDIN`` when the engine is PostgreSQL through psycopg 3.
The ``region_code`` index is built after the rows are in (faster than maintaining it).

Command line: ``python -m gateway.demo.load URL [N] [--seed S] [--table T]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from .generate import COLUMNS, TABLES, generate_batches

Progress = Callable[[int], None]

_ID = sa.Integer
_REGION = sa.String(6)
_NAME = sa.String(32)
_IDCARD = sa.String(18)
_PHONE = sa.String(20)
_ADDRESS = sa.String(128)
_TYPES: dict[str, dict[str, sa.types.TypeEngine[Any]]] = {
    "huji_renkou": {
        "hh_no": sa.String(12),
        "name": _NAME,
        "gender": sa.String(2),
        "ethnicity": sa.String(16),
        "birth_date": sa.Date(),
        "id_card": _IDCARD,
        "phone": _PHONE,
        "address": _ADDRESS,
        "postal_code": sa.String(6),
        "region_code": _REGION,
        "reg_date": sa.Date(),
        "relation": sa.String(8),
    },
    "qiye_dengji": {
        "company": sa.String(128),
        "uscc": sa.String(18),
        "legal_rep": _NAME,
        "phone": _PHONE,
        "address": _ADDRESS,
        "region_code": _REGION,
        "reg_capital": sa.Numeric(14, 2),
        "established": sa.Date(),
        "industry": sa.String(64),
        "status": sa.String(8),
    },
    "tousu_gongdan": {
        "ticket_no": sa.String(20),
        "accepted_at": sa.DateTime(),
        "channel": sa.String(16),
        "requester": _NAME,
        "phone": _PHONE,
        "category": sa.String(16),
        "description": sa.String(400),
        "handler_unit": sa.String(64),
        "status": sa.String(8),
        "region_code": _REGION,
    },
    "cheliang_dengji": {
        "plate": sa.String(10),
        "owner": _NAME,
        "id_card": _IDCARD,
        "vehicle_type": sa.String(16),
        "brand": sa.String(16),
        "reg_date": sa.Date(),
        "region_code": _REGION,
    },
    "shebao_jiaona": {
        "name": _NAME,
        "id_card": _IDCARD,
        "bank_card": sa.String(19),
        "employer": sa.String(128),
        "employer_uscc": sa.String(18),
        "base_salary": sa.Numeric(12, 2),
        "month": sa.String(7),
        "region_code": _REGION,
    },
}


def _check_table(table: str) -> None:
    if table not in TABLES:
        raise ValueError(f"unknown demo table {table!r}; expected one of {', '.join(TABLES)}")


def table_schema(metadata: sa.MetaData, table: str) -> sa.Table:
    """SQLAlchemy Core definition of a demo table (in ``metadata.schema`` if set).

    Integer primary key ``id`` (no autoincrement), typed NOT NULL columns in generator
    order, and an index ``ix_<table>_region_code``.
    """
    _check_table(table)
    key = f"{metadata.schema}.{table}" if metadata.schema else table
    if key in metadata.tables:
        return metadata.tables[key]
    types = _TYPES[table]
    cols = [sa.Column("id", _ID, primary_key=True, autoincrement=False)]
    cols += [sa.Column(c, types[c], nullable=False) for c in COLUMNS[table][1:]]
    t = sa.Table(table, metadata, *cols)
    sa.Index(f"ix_{table}_region_code", t.c.region_code)
    return t


def _copy_postgres(
    conn: sa.Connection, t: sa.Table, batches: Any, progress: Progress | None
) -> int:
    """Stream batches through psycopg 3 ``COPY FROM STDIN`` (text format)."""
    driver_conn = conn.connection.driver_connection
    prep = conn.dialect.identifier_preparer
    cols = ", ".join(prep.quote(c.name) for c in t.columns)
    names = [c.name for c in t.columns]
    sql = f"COPY {prep.format_table(t)} ({cols}) FROM STDIN"
    total = 0
    with driver_conn.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
        for batch in batches:
            write = copy.write_row
            for row in batch:
                write([row[c] for c in names])
            total += len(batch)
            if progress is not None:
                progress(total)
    return total


def _insert_batches(
    conn: sa.Connection, t: sa.Table, batches: Any, progress: Progress | None
) -> int:
    """executemany one batch at a time (SQLAlchemy's insertmanyvalues where supported)."""
    stmt = t.insert()
    total = 0
    for batch in batches:
        conn.execute(stmt, batch)
        total += len(batch)
        if progress is not None:
            progress(total)
    return total


def load_table(
    engine: sa.Engine,
    table: str,
    n: int,
    *,
    seed: int = 7,
    replace: bool = True,
    progress: Progress | None = None,
    schema: str | None = None,
    batch_size: int = 10_000,
) -> int:
    """Generate ``n`` rows of ``table`` and load them; return the number of rows loaded.

    ``replace=True`` drops and recreates the table (ids 1..n). ``replace=False`` creates
    the table if missing, else appends with ids after the current maximum. ``schema``
    places the table in another schema (PostgreSQL) or database (MariaDB/MySQL).
    ``progress`` is called with the running total after each batch.
    """
    t = table_schema(sa.MetaData(schema=schema), table)
    start_id, index_after = 1, False
    with engine.begin() as conn:
        if replace:
            t.drop(conn, checkfirst=True)
        if replace or not sa.inspect(conn).has_table(table, schema=schema):
            conn.execute(CreateTable(t))
            index_after = True
        else:
            start_id = (conn.execute(sa.select(sa.func.max(t.c.id))).scalar() or 0) + 1
    batches = generate_batches(table, n, seed=seed, batch_size=batch_size, start_id=start_id)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
            loaded = _copy_postgres(conn, t, batches, progress)
        else:
            loaded = _insert_batches(conn, t, batches, progress)
        if index_after:
            for index in t.indexes:
                index.create(conn)
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"ANALYZE {conn.dialect.identifier_preparer.format_table(t)}"))
    return loaded


def load_demo(
    engine: sa.Engine, n_per_table: int = 2000, *, seed: int = 7, schema: str | None = None
) -> dict[str, int]:
    """Load every demo table with ``n_per_table`` rows (replacing them); return the counts."""
    return {t: load_table(engine, t, n_per_table, seed=seed, schema=schema) for t in TABLES}


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: load the demo tables into the database at URL, print timings."""
    ap = argparse.ArgumentParser(prog="python -m gateway.demo.load", description=main.__doc__)
    ap.add_argument("url", help="SQLAlchemy URL, e.g. sqlite:///var/demo-upstream.db")
    ap.add_argument("n", nargs="?", type=int, default=2000, help="rows per table")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--table", action="append", choices=TABLES, help="only this table")
    args = ap.parse_args(argv)
    engine = sa.create_engine(args.url)
    try:
        for table in args.table or TABLES:
            t0 = time.perf_counter()
            count = load_table(engine, table, args.n, seed=args.seed)
            print(f"{table}: {count} rows in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
