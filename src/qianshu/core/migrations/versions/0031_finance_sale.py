"""Bidding in forced sales: an auction's closing time and step, and the bids

Revision ID: 0031_finance_sale
Revises: 0030_finance_fixes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = '0031_finance_sale'
down_revision: str | None = '0030_finance_fixes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("finance_forced_sales", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closes_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("step_fen", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_finance_forced_sales_closes_at"), ["closes_at"], unique=False)
    op.create_table(
        "finance_sale_bids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sale_id", sa.Integer(), nullable=False),
        sa.Column("bidder_org_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["bidder_org_id"], ["organisations.id"],
                                name=op.f("fk_finance_sale_bids_bidder_org_id_organisations"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_finance_sale_bids_created_by_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["sale_id"], ["finance_forced_sales.id"],
                                name=op.f("fk_finance_sale_bids_sale_id_finance_forced_sales"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_sale_bids")),
    )
    with op.batch_alter_table("finance_sale_bids", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_finance_sale_bids_bidder_org_id"), ["bidder_org_id"], unique=False)
        batch_op.create_index("ix_finance_sale_bids_sale_status", ["sale_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("finance_sale_bids", schema=None) as batch_op:
        batch_op.drop_index("ix_finance_sale_bids_sale_status")
        batch_op.drop_index(batch_op.f("ix_finance_sale_bids_bidder_org_id"))
    op.drop_table("finance_sale_bids")
    with op.batch_alter_table("finance_forced_sales", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finance_forced_sales_closes_at"))
        batch_op.drop_column("step_fen")
        batch_op.drop_column("closes_at")
