"""catalogue products carry a licence

Revision ID: 0010_catalog_licences
Revises: 0009_core_inbox
Create Date: 2026-11-30

Each product names the licence it is listed under (a key of ``catalog.vocab.LICENCES``);
products listed before default to the Qianshu data exchange licence, which grants what the
contract and the plan's usage policy grant — what they were sold under.

Stored ODRL policies whose ``@context`` named the remote W3C context get the inline one (the
same terms), so that they read offline; their content is unchanged.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_catalog_licences"
down_revision: str | None = "0009_core_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from qianshu.catalog.policy import ODRL_CONTEXT

    with op.batch_alter_table("catalog_listings") as batch:
        batch.add_column(sa.Column("licence", sa.String(32), nullable=False, server_default="qianshu-exchange-1.0"))
    plans = sa.table("catalog_plans", sa.column("id", sa.Integer), sa.column("policy", sa.JSON))
    connection = op.get_bind()
    for plan_id, policy in connection.execute(sa.select(plans.c.id, plans.c.policy)).all():
        if isinstance(policy, dict) and not isinstance(policy.get("@context"), dict):
            connection.execute(
                plans.update().where(plans.c.id == plan_id).values(policy={**policy, "@context": ODRL_CONTEXT})
            )


def downgrade() -> None:
    with op.batch_alter_table("catalog_listings") as batch:
        batch.drop_column("licence")
