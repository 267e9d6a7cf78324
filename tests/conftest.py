"""Shared fixtures. Tests that need a database server use the real one on this machine and
FAIL with a clear message when it is absent: they never skip silently."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("GATEWAY_TEST_MARIADB_URL",
                             "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4")


def require_server(url: str, what: str) -> sa.Engine:
    """An engine for a server that must be up; fails the test loudly when it is not."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        pytest.fail(f"{what} is not reachable at {url} ({type(exc.orig).__name__}). "
                    f"Start it (.ci/run does) or point the test at one with the env var.",
                    pytrace=False)
    return engine


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema on the real server, dropped afterwards; yields its URL."""
    engine = require_server(PG_URL, "PostgreSQL")
    schema = "pgw_t_" + secrets.token_hex(4)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@contextmanager
def mariadb_database() -> Iterator[str]:
    """A fresh MariaDB database on the real server, dropped afterwards; yields its URL."""
    engine = require_server(MARIADB_URL, "MariaDB")
    db = "pgw_t_" + secrets.token_hex(4)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4"))
    base, _, query = MARIADB_URL.partition("?")
    try:
        yield f"{base.rsplit('/', 1)[0]}/{db}" + (f"?{query}" if query else "")
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE `{db}`"))
        engine.dispose()


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    with pg_schema() as url:
        yield url


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    with mariadb_database() as url:
        yield url


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir initialised with ``pgw init --demo`` (small tables), built once."""
    from gateway.settings import Settings
    from gateway.setup import init_data_dir

    d = tmp_path_factory.mktemp("demo")
    init_data_dir(Settings(data_dir=d), demo=True, rows=400, echo=lambda m: None)
    return d
