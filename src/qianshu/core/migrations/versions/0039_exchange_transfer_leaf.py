"""exchange: an asset transfer by forced sale names the bank that sold it, which may read it

Revision ID: 0039_exchange_transfer_leaf
Revises: 0038_sharing_appeal_parts
Create Date: 2026-12-01

The contract that records a forced sale of a pledged data asset (``exchange/transfers.py``) now
has its own public-log leaf (``exchange.asset_transferred``, written with the contract; nothing to
migrate: the leaf's index is in the contract's timeline) and the selling bank may read it. For the
policy to see that bank, ``exchange_orders`` and ``exchange_contracts`` gain ``pledgee_org_id``
(NULL for every other trade). The upgrade fills it for the asset transfers recorded before, from
the forced sale that names each contract (``finance_forced_sales.contract_id``). A migration appends
nothing to the log, so those contracts come out of the upgrade without a leaf of their own; the
operator gives them one afterwards with ``qianshu exchange backfill-transfer-leaves``
(``exchange/jobs.py``, see ``docs/exchange.md``, *Asset transfers by forced sale*), which appends
the leaf closing a sale writes now, once per contract. Downgrading drops the columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039_exchange_transfer_leaf"
down_revision: str | None = "0038_sharing_appeal_parts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("exchange_orders", "exchange_contracts")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("pledgee_org_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(batch_op.f(f"fk_{table}_pledgee_org_id_organisations"), "organisations",
                                        ["pledgee_org_id"], ["id"], ondelete="RESTRICT")
    op.execute("UPDATE exchange_contracts SET pledgee_org_id = (SELECT s.pledgee_org_id FROM finance_forced_sales s "
               "WHERE s.contract_id = exchange_contracts.id) WHERE plan_kind = 'forced_sale'")
    op.execute("UPDATE exchange_orders SET pledgee_org_id = (SELECT c.pledgee_org_id FROM exchange_contracts c "
               "WHERE c.order_id = exchange_orders.id) WHERE plan_kind = 'forced_sale'")


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_pledgee_org_id_organisations"), type_="foreignkey")
            batch_op.drop_column("pledgee_org_id")
