"""delivery: decoy rows the seller allows per copy; per-contract data API limits; the call log of
the sliding-window rate limit

Revision ID: 0026_delivery_rest
Revises: 0025_exchange_refund_requests
Create Date: 2026-11-30

``delivery_watermark_policies.decoys`` (0 for existing products: no decoys until the seller allows
them), ``delivery_contract_limits`` (one row per contract whose seller set its limits),
``delivery_api_calls`` (admitted calls, kept an hour). Downgrading drops them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = '0026_delivery_rest'
down_revision: str | None = '0025_exchange_refund_requests'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('delivery_watermark_policies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decoys', sa.Integer(), nullable=False, server_default='0'))
    op.create_table('delivery_contract_limits',
    sa.Column('contract_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('rate_per_minute', sa.Integer(), nullable=False),
    sa.Column('quota_period', sa.String(length=8), nullable=False),
    sa.Column('calls_per_period', sa.BigInteger(), nullable=False),
    sa.Column('rows_per_period', sa.BigInteger(), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('contract_id', name=op.f('pk_delivery_contract_limits'))
    )
    op.create_table('delivery_api_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=False),
    sa.Column('at', qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_api_calls'))
    )
    with op.batch_alter_table('delivery_api_calls', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_api_calls_key', ['key_id', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('delivery_api_calls', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_api_calls_key')
    op.drop_table('delivery_api_calls')
    op.drop_table('delivery_contract_limits')
    with op.batch_alter_table('delivery_watermark_policies', schema=None) as batch_op:
        batch_op.drop_column('decoys')
