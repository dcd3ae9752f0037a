"""exchange: one bill per period for metered contracts (usage reports gather into monthly bills)

Revision ID: 0019_exchange_periods
Revises: 0018_monitoring_feeds_rules
Create Date: 2026-11-30

``exchange_usage_bills`` holds one charge per metered contract and period (an Asia/Shanghai
month; ``part`` 2, 3 … for reports that arrived after their period was billed). A usage report
gains its ``period`` and ``bill_id``; reports made before this revision were charged one by one
and keep both empty. Downgrading drops the table and the two columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0019_exchange_periods"
down_revision: str | None = "0018_monitoring_feeds_rules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exchange_usage_bills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("transfer_batch", sa.String(length=40), nullable=False),
        sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("charged_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["contract_id"], ["exchange_contracts.id"],
                                name=op.f("fk_exchange_usage_bills_contract_id_exchange_contracts"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_usage_bills")),
        sa.UniqueConstraint("contract_id", "period", "part",
                            name=op.f("uq_exchange_usage_bills_contract_id")),
    )
    with op.batch_alter_table("exchange_usage_bills", schema=None) as batch_op:
        batch_op.create_index("ix_exchange_usage_bills_status", ["status"], unique=False)
    with op.batch_alter_table("exchange_usage_reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("period", sa.String(length=7), nullable=True))
        batch_op.add_column(sa.Column("bill_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_exchange_usage_reports_bill_id"), ["bill_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_exchange_usage_reports_bill_id_exchange_usage_bills"),
                                    "exchange_usage_bills", ["bill_id"], ["id"], ondelete="RESTRICT")


def downgrade() -> None:
    with op.batch_alter_table("exchange_usage_reports", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_exchange_usage_reports_bill_id_exchange_usage_bills"),
                                 type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_exchange_usage_reports_bill_id"))
        batch_op.drop_column("bill_id")
        batch_op.drop_column("period")
    with op.batch_alter_table("exchange_usage_bills", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_usage_bills_status")
    op.drop_table("exchange_usage_bills")
