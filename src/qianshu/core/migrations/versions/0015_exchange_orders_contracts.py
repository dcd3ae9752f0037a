"""exchange: orders, contracts, signatures, contract changes, disputes, usage reports, the trades" timeline

Revision ID: 0015_exchange_orders_contracts
Revises: 0014_delivery_watermarks
Create Date: 2026-11-30

Money is not here: the ledger"s transfers book payments, escrow, settlement and refunds; a contract
keeps only where its money stands (``payment_status``) and the fee and refunds booked.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0015_exchange_orders_contracts"
down_revision: str | None = "0014_delivery_watermarks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("exchange_orders",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("listing_id", sa.Integer(), nullable=False),
    sa.Column("plan_id", sa.Integer(), nullable=False),
    sa.Column("buyer_org_id", sa.Integer(), nullable=False),
    sa.Column("seller_org_id", sa.Integer(), nullable=False),
    sa.Column("created_by", sa.Integer(), nullable=True),
    sa.Column("kind", sa.String(length=8), nullable=False),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("plan_kind", sa.String(length=24), nullable=False),
    sa.Column("purpose", sa.String(length=32), nullable=False),
    sa.Column("scenario", sa.Text(), nullable=False),
    sa.Column("delivery_mode", sa.String(length=16), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("price_fen", sa.BigInteger(), nullable=True),
    sa.Column("terms", sa.Text(), nullable=False),
    sa.Column("term_days", sa.Integer(), nullable=True),
    sa.Column("quote_expires_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column("answered_by", sa.Integer(), nullable=True),
    sa.Column("answered_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column("updated_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(["answered_by"], ["users.id"], name=op.f("fk_exchange_orders_answered_by_users"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["buyer_org_id"], ["organisations.id"], name=op.f("fk_exchange_orders_buyer_org_id_organisations"), ondelete="RESTRICT"),
    sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_exchange_orders_created_by_users"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["listing_id"], ["catalog_listings.id"], name=op.f("fk_exchange_orders_listing_id_catalog_listings"), ondelete="RESTRICT"),
    sa.ForeignKeyConstraint(["plan_id"], ["catalog_plans.id"], name=op.f("fk_exchange_orders_plan_id_catalog_plans"), ondelete="RESTRICT"),
    sa.ForeignKeyConstraint(["seller_org_id"], ["organisations.id"], name=op.f("fk_exchange_orders_seller_org_id_organisations"), ondelete="RESTRICT"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_orders"))
    )
    with op.batch_alter_table("exchange_orders", schema=None) as batch_op:
        batch_op.create_index("ix_exchange_orders_buyer_status", ["buyer_org_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_exchange_orders_listing_id"), ["listing_id"], unique=False)
        batch_op.create_index("ix_exchange_orders_seller_status", ["seller_org_id", "status"], unique=False)

    op.create_table("exchange_contracts",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("number", sa.String(length=24), nullable=False),
    sa.Column("order_id", sa.Integer(), nullable=False),
    sa.Column("listing_id", sa.Integer(), nullable=False),
    sa.Column("plan_id", sa.Integer(), nullable=False),
    sa.Column("buyer_org_id", sa.Integer(), nullable=False),
    sa.Column("seller_org_id", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("plan_kind", sa.String(length=24), nullable=False),
    sa.Column("price_fen", sa.BigInteger(), nullable=False),
    sa.Column("purpose", sa.String(length=32), nullable=False),
    sa.Column("delivery_mode", sa.String(length=16), nullable=False),
    sa.Column("term_days", sa.Integer(), nullable=True),
    sa.Column("document", sa.JSON(), nullable=False),
    sa.Column("text_sha256", sa.String(length=64), nullable=False),
    sa.Column("text_version", sa.Integer(), nullable=False),
    sa.Column("starts_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column("ends_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column("ended_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column("end_reason", sa.Text(), nullable=False),
    sa.Column("payment_status", sa.String(length=12), server_default="unpaid", nullable=False),
    sa.Column("fee_fen", sa.BigInteger(), server_default="0", nullable=False),
    sa.Column("refunded_fen", sa.BigInteger(), server_default="0", nullable=False),
    sa.Column("paid_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column("delivered_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column("settled_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column("renews", sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column("updated_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(["buyer_org_id"], ["organisations.id"], name=op.f("fk_exchange_contracts_buyer_org_id_organisations"), ondelete="RESTRICT"),
    sa.ForeignKeyConstraint(["listing_id"], ["catalog_listings.id"], name=op.f("fk_exchange_contracts_listing_id_catalog_listings"), ondelete="RESTRICT"),
    sa.ForeignKeyConstraint(["order_id"], ["exchange_orders.id"], name=op.f("fk_exchange_contracts_order_id_exchange_orders"), ondelete="RESTRICT"),
    sa.ForeignKeyConstraint(["plan_id"], ["catalog_plans.id"], name=op.f("fk_exchange_contracts_plan_id_catalog_plans"), ondelete="RESTRICT"),
    sa.ForeignKeyConstraint(["seller_org_id"], ["organisations.id"], name=op.f("fk_exchange_contracts_seller_org_id_organisations"), ondelete="RESTRICT"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_contracts")),
    sa.UniqueConstraint("number", name=op.f("uq_exchange_contracts_number")),
    sa.UniqueConstraint("order_id", name=op.f("uq_exchange_contracts_order_id"))
    )
    with op.batch_alter_table("exchange_contracts", schema=None) as batch_op:
        batch_op.create_index("ix_exchange_contracts_buyer_status", ["buyer_org_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_exchange_contracts_listing_id"), ["listing_id"], unique=False)
        batch_op.create_index("ix_exchange_contracts_seller_status", ["seller_org_id", "status"], unique=False)
        batch_op.create_index("ix_exchange_contracts_status_ends", ["status", "ends_at"], unique=False)

    op.create_table("exchange_contract_changes",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("contract_id", sa.Integer(), nullable=False),
    sa.Column("kind", sa.String(length=12), nullable=False),
    sa.Column("proposed_by_org_id", sa.Integer(), nullable=False),
    sa.Column("proposed_by", sa.Integer(), nullable=True),
    sa.Column("changes", sa.JSON(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("decided_by", sa.Integer(), nullable=True),
    sa.Column("decided_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["contract_id"], ["exchange_contracts.id"], name=op.f("fk_exchange_contract_changes_contract_id_exchange_contracts"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["decided_by"], ["users.id"], name=op.f("fk_exchange_contract_changes_decided_by_users"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["proposed_by"], ["users.id"], name=op.f("fk_exchange_contract_changes_proposed_by_users"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["proposed_by_org_id"], ["organisations.id"], name=op.f("fk_exchange_contract_changes_proposed_by_org_id_organisations"), ondelete="RESTRICT"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_contract_changes"))
    )
    with op.batch_alter_table("exchange_contract_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exchange_contract_changes_contract_id"), ["contract_id"], unique=False)

    op.create_table("exchange_disputes",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("contract_id", sa.Integer(), nullable=False),
    sa.Column("raised_by_org_id", sa.Integer(), nullable=False),
    sa.Column("raised_by", sa.Integer(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("decision", sa.String(length=16), nullable=False),
    sa.Column("refund_fen", sa.BigInteger(), nullable=False),
    sa.Column("decision_reason", sa.Text(), nullable=False),
    sa.Column("decided_by", sa.Integer(), nullable=True),
    sa.Column("decided_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["contract_id"], ["exchange_contracts.id"], name=op.f("fk_exchange_disputes_contract_id_exchange_contracts"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["decided_by"], ["users.id"], name=op.f("fk_exchange_disputes_decided_by_users"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["raised_by"], ["users.id"], name=op.f("fk_exchange_disputes_raised_by_users"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["raised_by_org_id"], ["organisations.id"], name=op.f("fk_exchange_disputes_raised_by_org_id_organisations"), ondelete="RESTRICT"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_disputes"))
    )
    with op.batch_alter_table("exchange_disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exchange_disputes_contract_id"), ["contract_id"], unique=False)

    op.create_table("exchange_signatures",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("contract_id", sa.Integer(), nullable=False),
    sa.Column("text_version", sa.Integer(), nullable=False),
    sa.Column("party", sa.String(length=8), nullable=False),
    sa.Column("org_id", sa.Integer(), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=True),
    sa.Column("user_label", sa.String(length=200), nullable=False),
    sa.Column("via", sa.String(length=20), nullable=False),
    sa.Column("ip", sa.String(length=64), nullable=True),
    sa.Column("at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column("text_sha256", sa.String(length=64), nullable=False),
    sa.Column("log_index", sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(["contract_id"], ["exchange_contracts.id"], name=op.f("fk_exchange_signatures_contract_id_exchange_contracts"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f("fk_exchange_signatures_org_id_organisations"), ondelete="RESTRICT"),
    sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_exchange_signatures_user_id_users"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_signatures")),
    sa.UniqueConstraint("contract_id", "text_version", "party", name=op.f("uq_exchange_signatures_contract_id"))
    )
    op.create_table("exchange_timeline",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("order_id", sa.Integer(), nullable=False),
    sa.Column("contract_id", sa.Integer(), nullable=True),
    sa.Column("at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column("actor_user_id", sa.Integer(), nullable=True),
    sa.Column("actor_org_id", sa.Integer(), nullable=True),
    sa.Column("actor_label", sa.String(length=200), nullable=False),
    sa.Column("step", sa.String(length=40), nullable=False),
    sa.Column("detail", sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(["actor_org_id"], ["organisations.id"], name=op.f("fk_exchange_timeline_actor_org_id_organisations"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["actor_user_id"], ["users.id"], name=op.f("fk_exchange_timeline_actor_user_id_users"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["contract_id"], ["exchange_contracts.id"], name=op.f("fk_exchange_timeline_contract_id_exchange_contracts"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["order_id"], ["exchange_orders.id"], name=op.f("fk_exchange_timeline_order_id_exchange_orders"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_timeline"))
    )
    with op.batch_alter_table("exchange_timeline", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exchange_timeline_order_id"), ["order_id"], unique=False)

    op.create_table("exchange_usage_reports",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("report_id", sa.String(length=100), nullable=False),
    sa.Column("contract_id", sa.Integer(), nullable=False),
    sa.Column("units", sa.BigInteger(), nullable=False),
    sa.Column("amount_fen", sa.BigInteger(), nullable=False),
    sa.Column("fee_fen", sa.BigInteger(), nullable=False),
    sa.Column("transfer_batch", sa.String(length=40), nullable=False),
    sa.Column("reported_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["contract_id"], ["exchange_contracts.id"], name=op.f("fk_exchange_usage_reports_contract_id_exchange_contracts"), ondelete="RESTRICT"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_usage_reports")),
    sa.UniqueConstraint("report_id", name=op.f("uq_exchange_usage_reports_report_id"))
    )
    with op.batch_alter_table("exchange_usage_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exchange_usage_reports_contract_id"), ["contract_id"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("exchange_usage_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exchange_usage_reports_contract_id"))

    op.drop_table("exchange_usage_reports")
    with op.batch_alter_table("exchange_timeline", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exchange_timeline_order_id"))

    op.drop_table("exchange_timeline")
    op.drop_table("exchange_signatures")
    with op.batch_alter_table("exchange_disputes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exchange_disputes_contract_id"))

    op.drop_table("exchange_disputes")
    with op.batch_alter_table("exchange_contract_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exchange_contract_changes_contract_id"))

    op.drop_table("exchange_contract_changes")
    with op.batch_alter_table("exchange_contracts", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_contracts_status_ends")
        batch_op.drop_index("ix_exchange_contracts_seller_status")
        batch_op.drop_index(batch_op.f("ix_exchange_contracts_listing_id"))
        batch_op.drop_index("ix_exchange_contracts_buyer_status")

    op.drop_table("exchange_contracts")
    with op.batch_alter_table("exchange_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_orders_seller_status")
        batch_op.drop_index(batch_op.f("ix_exchange_orders_listing_id"))
        batch_op.drop_index("ix_exchange_orders_buyer_status")

    op.drop_table("exchange_orders")
