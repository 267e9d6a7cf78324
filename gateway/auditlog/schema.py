"""The audit log's tables (SQLAlchemy Core), on their own ``MetaData``.

* ``audit_log`` — one row per leaf, insert-only. ``entry`` is the exact UTF-8 text that was
  hashed (the canonical leaf document, see :mod:`gateway.auditlog.entries`); the other
  columns are copies for search and for locating damage, all re-checked by verification.
* ``audit_head`` — one row (``id = 1``): tree size, frontier, last checkpoint, and the base
  (size and frontier) left by retention pruning. Appends lock this row, which is what
  serializes writers across threads, processes and replicas.
* ``audit_checkpoints`` — signed checkpoints, insert-only.

On PostgreSQL ``create_all`` also installs triggers that refuse UPDATE, DELETE and
TRUNCATE on ``audit_log`` and ``audit_checkpoints``; only a transaction that sets
``pgw.audit_prune = 'on'`` (retention pruning) may delete. They stop bugs and casual
edits, not a superuser, which is what checkpoints and ``verify_log`` are for.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

HEAD_ID = 1

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("operator_id", sa.String(200), nullable=True),
    sa.Column("dataset", sa.String(200), nullable=True),
    sa.Column("grant_id", sa.String(200), nullable=True),
    sa.Column("allowed", sa.Boolean, nullable=True),
    sa.Column("entry", sa.Text, nullable=False),
    sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    # Root of the tree of seq + 1 leaves, and the interior nodes this leaf completed
    # (levels 1.., 32 bytes each): the first lets verification name the first altered
    # entry, the second makes proofs O(log n) without reading old leaves.
    sa.Column("tree_root", sa.LargeBinary(32), nullable=False),
    sa.Column("nodes", sa.LargeBinary, nullable=False),
    sa.Index("ix_audit_log_time", "time"),
    sa.Index("ix_audit_log_operator", "operator_id", "seq"),
    sa.Index("ix_audit_log_dataset", "dataset", "seq"),
    sa.Index("ix_audit_log_grant", "grant_id", "seq"),
    sa.Index("ix_audit_log_request", "request_id"),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("frontier", sa.LargeBinary, nullable=False),
    sa.Column("checkpoint_size", sa.BigInteger, nullable=False),
    sa.Column("checkpoint_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("base_size", sa.BigInteger, nullable=False),
    sa.Column("base_frontier", sa.LargeBinary, nullable=False),
)

audit_checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("origin", sa.String(200), nullable=False),
    sa.Column("key_id", sa.String(200), nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)

PRUNE_SETTING = "pgw.audit_prune"

_GUARD_FUNCTION = sa.DDL(  # type: ignore[no-untyped-call]
    "CREATE OR REPLACE FUNCTION pgw_audit_insert_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'DELETE' AND current_setting('pgw.audit_prune', true) = 'on' THEN "
    "RETURN OLD; END IF; "
    "RAISE EXCEPTION 'audit tables are insert-only' USING ERRCODE = 'insufficient_privilege'; "
    "END $$"
)


def _guard(table: str) -> list[sa.DDL]:
    return [
        sa.DDL(  # type: ignore[no-untyped-call]
            f"CREATE TRIGGER {table}_insert_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION pgw_audit_insert_only()"),
        sa.DDL(  # type: ignore[no-untyped-call]
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION pgw_audit_insert_only()"),
    ]


for _table in (audit_log, audit_checkpoints):
    for _ddl in [_GUARD_FUNCTION, *_guard(_table.name)]:
        sa.event.listen(_table, "after_create", _ddl.execute_if(dialect="postgresql"))


def create_schema(engine: sa.Engine) -> None:
    """Create the audit tables (and the PostgreSQL insert-only triggers) if missing."""
    metadata.create_all(engine)
