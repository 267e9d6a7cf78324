"""release sketches (leak tracing)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('release_sketches',
    sa.Column('receipt_id', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=128), nullable=False),
    sa.Column('grant_id', sa.String(length=64), nullable=True),
    sa.Column('operator_id', sa.String(length=64), nullable=True),
    sa.Column('dataset', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('payload_sha256', sa.String(length=64), nullable=False),
    sa.Column('n_rows', sa.BigInteger(), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('sketch', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('receipt_id')
    )
    with op.batch_alter_table('release_sketches', schema=None) as batch_op:
        batch_op.create_index('ix_release_sketches_dataset', ['dataset', 'created_at'],
                              unique=False)
        batch_op.create_index('ix_release_sketches_payload', ['payload_sha256'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('release_sketches', schema=None) as batch_op:
        batch_op.drop_index('ix_release_sketches_payload')
        batch_op.drop_index('ix_release_sketches_dataset')
    op.drop_table('release_sketches')
