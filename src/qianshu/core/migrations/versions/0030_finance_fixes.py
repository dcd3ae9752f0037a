"""A pledge may have several forced sales (a withdrawn offer, then a new one): pledge_id no longer unique

Revision ID: 0030_finance_fixes
Revises: 0029_vouchers_rest
"""

from __future__ import annotations

from alembic import op

revision: str = '0030_finance_fixes'
down_revision: str | None = '0029_vouchers_rest'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("finance_forced_sales", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_finance_forced_sales_pledge_id"), type_="unique")
        batch_op.create_index(batch_op.f("ix_finance_forced_sales_pledge_id"), ["pledge_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("finance_forced_sales", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finance_forced_sales_pledge_id"))
        batch_op.create_unique_constraint(batch_op.f("uq_finance_forced_sales_pledge_id"), ["pledge_id"])
