"""Alembic environment: run with the connection handed over by ``gateway.migrate``."""

from __future__ import annotations

from alembic import context

from gateway.migrate import target_metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through gateway.migrate
    raise RuntimeError("run migrations through `pgw migrate` (gateway.migrate.upgrade)")

context.configure(connection=connection, target_metadata=target_metadata(),
                  render_as_batch=connection.dialect.name == "sqlite",
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
