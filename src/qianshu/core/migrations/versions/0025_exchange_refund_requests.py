"""exchange: a buyer's refund request after settlement; tries of a usage bill; a price to publish

Revision ID: 0025_exchange_refund_requests
Revises: 0024_monitoring_cases
Create Date: 2026-11-30

``exchange_refund_requests`` holds a buyer's request for money back after a contract settled,
the seller's answer and the operator's decision; ``open_contract_id`` (unique) holds the
contract's id while a request is open, so a contract has one open request at a time. A usage
bill gains ``attempts`` and ``last_tried_at`` (the bills page tells "short" from "retrying"); an
order gains ``publish_price`` (the parties agree to publish the price in the public log).
Downgrading drops the table and the three columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0025_exchange_refund_requests"
down_revision: str | None = "0024_monitoring_cases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exchange_refund_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("open_contract_id", sa.Integer(), nullable=True),
        sa.Column("requested_by_org_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("answer_reason", sa.Text(), nullable=False),
        sa.Column("answered_by", sa.Integer(), nullable=True),
        sa.Column("answered_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("refund_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["exchange_contracts.id"],
                                name=op.f("fk_exchange_refund_requests_contract_id_exchange_contracts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requested_by_org_id"], ["organisations.id"],
                                name=op.f("fk_exchange_refund_requests_requested_by_org_id_organisations"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["requested_by"], ["users.id"],
                                name=op.f("fk_exchange_refund_requests_requested_by_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["answered_by"], ["users.id"],
                                name=op.f("fk_exchange_refund_requests_answered_by_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"],
                                name=op.f("fk_exchange_refund_requests_decided_by_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_refund_requests")),
        sa.UniqueConstraint("open_contract_id", name=op.f("uq_exchange_refund_requests_open_contract_id")),
    )
    with op.batch_alter_table("exchange_refund_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exchange_refund_requests_contract_id"), ["contract_id"], unique=False)
    with op.batch_alter_table("exchange_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("publish_price", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("exchange_usage_bills", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("last_tried_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exchange_usage_bills", schema=None) as batch_op:
        batch_op.drop_column("last_tried_at")
        batch_op.drop_column("attempts")
    with op.batch_alter_table("exchange_orders", schema=None) as batch_op:
        batch_op.drop_column("publish_price")
    with op.batch_alter_table("exchange_refund_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exchange_refund_requests_contract_id"))
    op.drop_table("exchange_refund_requests")
