"""Schema migrations (Alembic) for every table the gateway keeps, on SQLite and PostgreSQL.

``pgw init`` and ``pgw migrate`` call :func:`upgrade`; the gateway calls it at start-up
too, so a new release brings its schema changes with it.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from gateway.errors import ConfigError

_SCRIPTS = Path(__file__).resolve().parent / "migrations"


def target_metadata() -> list[sa.MetaData]:
    """Every MetaData whose tables the migrations manage (importing the modules that
    declare tables on the shared state metadata)."""
    import gateway.agreements  # noqa: F401
    import gateway.applications  # noqa: F401
    import gateway.console.accounts  # noqa: F401
    import gateway.licenses  # noqa: F401
    import gateway.metering  # noqa: F401
    import gateway.nonces  # noqa: F401
    import gateway.policy.versions  # noqa: F401
    import gateway.privacy_budget  # noqa: F401
    import gateway.quotas  # noqa: F401
    import gateway.request_auth  # noqa: F401
    import gateway.trace.store  # noqa: F401
    import gateway.verification  # noqa: F401
    from gateway import state
    from gateway.auditlog import metadata as audit_metadata
    from keys.store import metadata as key_metadata

    return [state.metadata, audit_metadata, key_metadata]


def _config(connection: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the state database to ``revision`` (idempotent).

    A database that has gateway tables but no migration history was not made by these
    migrations: it is refused rather than guessed at."""
    with engine.begin() as conn:
        if MigrationContext.configure(conn).get_current_revision() is None and \
                sa.inspect(conn).has_table("principals"):
            raise ConfigError("the state database predates schema migrations (no "
                              "alembic_version table); migrate it by hand or start afresh")
        command.upgrade(_config(conn), revision)


def current(engine: sa.Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str | None:
    """The newest revision this release knows."""
    return ScriptDirectory(str(_SCRIPTS)).get_current_head()


def revision(engine: sa.Engine, message: str) -> None:
    """Autogenerate a new revision from the difference between the models and ``engine``
    (a developer command: `pgw migrate --new "message"`)."""
    with engine.begin() as conn:
        command.revision(_config(conn), message=message, autogenerate=True)
