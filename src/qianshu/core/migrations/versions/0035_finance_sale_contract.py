"""A forced sale's winning purchase becomes an exchange contract: orders and contracts may name no
plan (and no listing, for an asset never listed); the sale names its contract

Revision ID: 0035_finance_sale_contract
Revises: 0034_exchange_renewals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0035_finance_sale_contract"
down_revision: str | None = "0034_exchange_renewals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite copies both tables (batch mode) with foreign keys off: core/migrations/env.py.
    for table in ("exchange_orders", "exchange_contracts"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("listing_id", existing_type=sa.Integer(), nullable=True)
            batch_op.alter_column("plan_id", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("finance_forced_sales", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contract_id", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_finance_forced_sales_contract_id"), ["contract_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_finance_forced_sales_contract_id_exchange_contracts"),
            "exchange_contracts",
            ["contract_id"],
            ["id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    with op.batch_alter_table("finance_forced_sales", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_finance_forced_sales_contract_id_exchange_contracts"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_finance_forced_sales_contract_id"), type_="unique")
        batch_op.drop_column("contract_id")
    # A contract of a forced sale has no plan: with one recorded, the downgrade fails here (NOT NULL).
    for table in ("exchange_contracts", "exchange_orders"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("plan_id", existing_type=sa.Integer(), nullable=False)
            batch_op.alter_column("listing_id", existing_type=sa.Integer(), nullable=False)
