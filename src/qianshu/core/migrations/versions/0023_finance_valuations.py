"""finance: valuation worksheets signed by appraiser organisations with keys of their own

Revision ID: 0023_finance_valuations
Revises: 0022_sharing_catalogue
Create Date: 2026-11-30

``finance_appraiser_keys`` holds each appraiser organisation's Ed25519 key (the private key
encrypted); ``finance_valuations`` the worksheets and their signed reports; a pledge names the
valuation its loan-to-value was computed on. Downgrading drops both tables and the column.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0023_finance_valuations"
down_revision: str | None = "0022_sharing_catalogue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "finance_appraiser_keys",
        sa.Column("org_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("private_key_pem", sa.Text(), nullable=False),
        sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_finance_appraiser_keys_org_id_organisations"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_finance_appraiser_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_finance_appraiser_keys_key_id")),
    )
    op.create_table(
        "finance_valuations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("certificate_number", sa.String(length=20), nullable=False),
        sa.Column("appraiser_org_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("value_fen", sa.BigInteger(), nullable=True),
        sa.Column("market_fen", sa.BigInteger(), nullable=True),
        sa.Column("deviation_bp", sa.Integer(), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("signed_by", sa.Integer(), nullable=True),
        sa.Column("signed_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["registration_id"], ["registrations.id"],
                                name=op.f("fk_finance_valuations_registration_id_registrations"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["appraiser_org_id"], ["organisations.id"],
                                name=op.f("fk_finance_valuations_appraiser_org_id_organisations"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_finance_valuations_created_by_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["signed_by"], ["users.id"], name=op.f("fk_finance_valuations_signed_by_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_valuations")),
    )
    with op.batch_alter_table("finance_valuations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_finance_valuations_appraiser_org_id"), ["appraiser_org_id"],
                              unique=False)
        batch_op.create_index("ix_finance_valuations_registration_status", ["registration_id", "status"],
                              unique=False)
    with op.batch_alter_table("finance_pledges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("valuation_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("proposed_amendment", sa.JSON(), server_default="{}", nullable=False))
        batch_op.create_foreign_key(batch_op.f("fk_finance_pledges_valuation_id_finance_valuations"),
                                    "finance_valuations", ["valuation_id"], ["id"], ondelete="RESTRICT")


def downgrade() -> None:
    with op.batch_alter_table("finance_pledges", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_finance_pledges_valuation_id_finance_valuations"), type_="foreignkey")
        batch_op.drop_column("proposed_amendment")
        batch_op.drop_column("valuation_id")
    with op.batch_alter_table("finance_valuations", schema=None) as batch_op:
        batch_op.drop_index("ix_finance_valuations_registration_status")
        batch_op.drop_index(batch_op.f("ix_finance_valuations_appraiser_org_id"))
    op.drop_table("finance_valuations")
    op.drop_table("finance_appraiser_keys")
