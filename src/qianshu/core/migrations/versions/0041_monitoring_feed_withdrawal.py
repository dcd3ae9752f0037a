"""monitoring: a feed received through data sharing can be withdrawn

Revision ID: 0041_feed_withdrawal
Revises: 0040_sharing_feeds
Create Date: 2026-12-02

``monitoring_shared_feeds`` gains ``withdrawn_at``, ``withdrawn_by`` (the user), ``withdrawn_by_label``
(their name as it was) and ``withdraw_reason``: a withdrawn declaration is kept, as history, and
delivers nothing more (shared_feeds.py). Every declaration made before is in force (NULL
``withdrawn_at``). Downgrading drops the columns, and with them which declarations were withdrawn.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0041_feed_withdrawal"
down_revision: str | None = "0040_sharing_feeds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("monitoring_shared_feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("withdrawn_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_by_label", sa.String(length=200), server_default="", nullable=False))
        batch_op.add_column(sa.Column("withdraw_reason", sa.Text(), server_default="", nullable=False))
        batch_op.create_foreign_key(batch_op.f("fk_monitoring_shared_feeds_withdrawn_by_users"), "users",
                                    ["withdrawn_by"], ["id"], ondelete="RESTRICT")


def downgrade() -> None:
    with op.batch_alter_table("monitoring_shared_feeds", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_monitoring_shared_feeds_withdrawn_by_users"), type_="foreignkey")
        batch_op.drop_column("withdraw_reason")
        batch_op.drop_column("withdrawn_by_label")
        batch_op.drop_column("withdrawn_by")
        batch_op.drop_column("withdrawn_at")
