"""Alembic migrations: a fresh database migrates to exactly the models' schema, on SQLite
and PostgreSQL; upgrading twice is a no-op; the audit tables are insert-only on
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from gateway import migrate
from gateway.cli import app as cli
from gateway.errors import ConfigError


def _check(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    migrate.upgrade(engine)  # idempotent
    assert migrate.current(engine) == migrate.head()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), migrate.target_metadata())
    assert diffs == []


def test_sqlite_fresh_database(tmp_path: Path) -> None:
    _check(sa.create_engine(f"sqlite:///{tmp_path / 's.db'}"))


@pytest.mark.postgres
def test_postgres_fresh_database_and_insert_only_audit(pg_schema_url: str) -> None:
    engine = sa.create_engine(pg_schema_url)
    _check(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO audit_checkpoints (size, root, time, origin, key_id, "
                             "signature, note) VALUES (0, ''::bytea, now(), 'o', 'k', "
                             "''::bytea, 'n')"))
    with pytest.raises(sa.exc.DBAPIError, match="insert-only"):
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE audit_checkpoints SET origin = 'x'"))
    with pytest.raises(sa.exc.DBAPIError, match="insert-only"):
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit_checkpoints"))
    engine.dispose()


def test_unmigrated_database_that_differs_is_refused(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE principals (id VARCHAR(64) PRIMARY KEY)"))
    with pytest.raises(ConfigError, match="predates"):
        migrate.upgrade(engine)


def test_cli_migrate(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["migrate", "--data-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert f"revision {migrate.head()}" in res.output
