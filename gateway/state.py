"""The state database schema (SQLAlchemy Core): catalog, principals, API keys, grants.

The audit log (gateway.auditlog) and the key ring (keys.store) own their tables.

SQLite by default, PostgreSQL in production; the same code on both.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

upstreams = sa.Table(
    "upstreams",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

principals = sa.Table(
    "principals",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("org_uscc", sa.String(18), nullable=True),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("principal_id", sa.String(64), sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

grants = sa.Table(
    "grants",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("operator_id", sa.String(64), sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("dataset_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("purposes", sa.JSON, nullable=False),
    sa.Column("modes", sa.JSON, nullable=False),
    sa.Column("row_filter", sa.JSON, nullable=False),
    sa.Column("operators", sa.JSON, nullable=False),
    sa.Column("quota", sa.JSON, nullable=False),
    sa.Column("fee_mode", sa.String(8), nullable=False),
    sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
    sa.Column("valid_to", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # What the grant came from: "application:<id>", "license:<id>", or null (made by hand).
    sa.Column("source", sa.String(80), nullable=True),
    sa.Index("ix_grants_operator_dataset", "operator_id", "dataset_id"),
    sa.Index("ix_grants_source", "source"),
)

def make_engine(url: str) -> sa.Engine:
    """An engine for the state database; SQLite gets WAL and a busy timeout."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def create_schema(engine: sa.Engine) -> None:
    """Bring every table the gateway keeps (state, audit log, key ring) to the schema of
    this release, through the Alembic migrations (gateway/migrations)."""
    from gateway.migrate import upgrade

    upgrade(engine)
