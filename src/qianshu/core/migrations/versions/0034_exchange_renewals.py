"""Renewed periods of subscriptions with their own escrow; disputes and refund requests name the item

Revision ID: 0034_exchange_renewals
Revises: 0033_sharing_stream
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0034_exchange_renewals"
down_revision: str | None = "0033_sharing_stream"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exchange_contract_periods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("starts_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("payment_status", sa.String(length=12), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("settled_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["exchange_contracts.id"],
            name=op.f("fk_exchange_contract_periods_contract_id_exchange_contracts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_contract_periods")),
        sa.UniqueConstraint("contract_id", "number", name=op.f("uq_exchange_contract_periods_contract_id")),
    )
    op.create_index("ix_exchange_contract_periods_status", "exchange_contract_periods", ["payment_status"])
    with op.batch_alter_table("exchange_disputes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("period_number", sa.Integer(), nullable=True))
    with op.batch_alter_table("exchange_usage_bills", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refunded_fen", sa.BigInteger(), server_default="0", nullable=False))
    with op.batch_alter_table("exchange_refund_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("period_number", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("bill_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_exchange_refund_requests_bill_id_exchange_usage_bills"),
            "exchange_usage_bills",
            ["bill_id"],
            ["id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    with op.batch_alter_table("exchange_refund_requests", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_exchange_refund_requests_bill_id_exchange_usage_bills"), type_="foreignkey"
        )
        batch_op.drop_column("bill_id")
        batch_op.drop_column("period_number")
    with op.batch_alter_table("exchange_usage_bills", schema=None) as batch_op:
        batch_op.drop_column("refunded_fen")
    with op.batch_alter_table("exchange_disputes", schema=None) as batch_op:
        batch_op.drop_column("period_number")
    op.drop_index("ix_exchange_contract_periods_status", table_name="exchange_contract_periods")
    op.drop_table("exchange_contract_periods")
