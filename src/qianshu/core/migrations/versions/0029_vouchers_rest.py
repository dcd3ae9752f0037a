"""vouchers: data vouchers paid through a claim, subsidies returned on refunds, programmes closed at their end

Revision ID: 0029_vouchers_rest
Revises: 0028_sharing_rest
Create Date: 2026-11-30

``exchange_contracts.subsidy_fen`` is the part of a contract's price that a voucher programme pays
the seller on its claim: the buyer escrows the price less it (the exchange's escrow, settlement and
refunds work on what was escrowed). ``voucher_orders.returned_fen`` is the subsidy of an order that
went back to the programme after a refund of its contract. ``voucher_programmes.returned_fen`` and
``closed_at``: the unspent budget returned to the administrator's wallet at the programme's end.
Downgrading drops the four columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = '0029_vouchers_rest'
down_revision: str | None = '0028_sharing_rest'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("exchange_contracts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subsidy_fen", sa.BigInteger(), server_default="0", nullable=False))
    with op.batch_alter_table("voucher_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("returned_fen", sa.BigInteger(), server_default="0", nullable=False))
    with op.batch_alter_table("voucher_programmes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("returned_fen", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("closed_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("voucher_programmes", schema=None) as batch_op:
        batch_op.drop_column("closed_at")
        batch_op.drop_column("returned_fen")
    with op.batch_alter_table("voucher_orders", schema=None) as batch_op:
        batch_op.drop_column("returned_fen")
    with op.batch_alter_table("exchange_contracts", schema=None) as batch_op:
        batch_op.drop_column("subsidy_fen")
