"""finance: pledges over certified data assets, their events, and the banks' loan-to-value limits

Revision ID: 0016_finance_pledges
Revises: 0015_exchange_orders_contracts
Create Date: 2026-11-30

``finance_assets`` holds one row per pledged registration, the row a pledge locks so that two
banks pledging the same asset at once are serialised. Downgrading drops the four tables.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0016_finance_pledges"
down_revision: str | None = "0015_exchange_orders_contracts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "finance_assets",
        sa.Column("registration_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("certificate_number", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["registration_id"], ["registrations.id"],
                                name=op.f("fk_finance_assets_registration_id_registrations"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("registration_id", name=op.f("pk_finance_assets")),
        sa.UniqueConstraint("certificate_number", name=op.f("uq_finance_assets_certificate_number")),
    )
    op.create_table(
        "finance_pledges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("certificate_number", sa.String(length=20), nullable=False),
        sa.Column("pledgee_org_id", sa.Integer(), nullable=False),
        sa.Column("pledgor_org_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("secured_fen", sa.BigInteger(), nullable=False),
        sa.Column("appraised_fen", sa.BigInteger(), nullable=False),
        sa.Column("value_source", sa.String(length=16), nullable=False),
        sa.Column("ltv_limit_bp", sa.Integer(), nullable=False),
        sa.Column("interest_bp", sa.Integer(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("matures_on", sa.Date(), nullable=False),
        sa.Column("risk_pool_bp", sa.Integer(), nullable=True),
        sa.Column("product_category", sa.String(length=3), nullable=False),
        sa.Column("external_registry", sa.String(length=100), nullable=False),
        sa.Column("external_number", sa.String(length=60), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["registration_id"], ["finance_assets.registration_id"],
                                name=op.f("fk_finance_pledges_registration_id_finance_assets"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["pledgee_org_id"], ["organisations.id"],
                                name=op.f("fk_finance_pledges_pledgee_org_id_organisations"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["pledgor_org_id"], ["organisations.id"],
                                name=op.f("fk_finance_pledges_pledgor_org_id_organisations"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_finance_pledges_created_by_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_pledges")),
    )
    op.create_index("ix_finance_pledges_registration_status", "finance_pledges", ["registration_id", "status"])
    op.create_index(op.f("ix_finance_pledges_pledgee_org_id"), "finance_pledges", ["pledgee_org_id"])
    op.create_index(op.f("ix_finance_pledges_pledgor_org_id"), "finance_pledges", ["pledgor_org_id"])
    op.create_table(
        "finance_pledge_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pledge_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_org_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["pledge_id"], ["finance_pledges.id"],
                                name=op.f("fk_finance_pledge_events_pledge_id_finance_pledges"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_user_id"], ["users.id"],
                                name=op.f("fk_finance_pledge_events_actor_user_id_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["actor_org_id"], ["organisations.id"],
                                name=op.f("fk_finance_pledge_events_actor_org_id_organisations"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_pledge_events")),
    )
    op.create_index(op.f("ix_finance_pledge_events_pledge_id"), "finance_pledge_events", ["pledge_id"])
    op.create_table(
        "finance_ltv_limits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bank_org_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=3), nullable=False),
        sa.Column("limit_bp", sa.Integer(), nullable=False),
        sa.Column("updated_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["bank_org_id"], ["organisations.id"],
                                name=op.f("fk_finance_ltv_limits_bank_org_id_organisations"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_ltv_limits")),
        sa.UniqueConstraint("bank_org_id", "category", name=op.f("uq_finance_ltv_limits_bank_org_id")),
    )


def downgrade() -> None:
    op.drop_table("finance_ltv_limits")
    op.drop_index(op.f("ix_finance_pledge_events_pledge_id"), table_name="finance_pledge_events")
    op.drop_table("finance_pledge_events")
    op.drop_index(op.f("ix_finance_pledges_pledgor_org_id"), table_name="finance_pledges")
    op.drop_index(op.f("ix_finance_pledges_pledgee_org_id"), table_name="finance_pledges")
    op.drop_index("ix_finance_pledges_registration_status", table_name="finance_pledges")
    op.drop_table("finance_pledges")
    op.drop_table("finance_assets")
