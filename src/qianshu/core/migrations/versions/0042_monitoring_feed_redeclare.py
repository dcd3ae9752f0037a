"""monitoring: a grant whose feed was withdrawn can be declared again

Revision ID: 0042_feed_redeclare
Revises: 0041_feed_withdrawal
Create Date: 2026-12-02

``monitoring_shared_feeds.request_id`` was unique (``uq_monitoring_shared_feeds_request_id``), so a
withdrawn declaration kept its grant from being declared again. The constraint gives way to a
partial unique index, ``uq_monitoring_shared_feeds_active_request`` on ``request_id`` where
``withdrawn_at IS NULL``: at most one declaration in force per grant, any number withdrawn (SQLite
recreates the table in batch mode to drop the constraint). Downgrading restores the unique
constraint, and fails while a grant has been declared more than once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042_feed_redeclare"
down_revision: str | None = "0041_feed_withdrawal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("withdrawn_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("monitoring_shared_feeds", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_monitoring_shared_feeds_request_id"), type_="unique")
    op.create_index("uq_monitoring_shared_feeds_active_request", "monitoring_shared_feeds", ["request_id"],
                    unique=True, postgresql_where=ACTIVE, sqlite_where=ACTIVE)


def downgrade() -> None:
    op.drop_index("uq_monitoring_shared_feeds_active_request", table_name="monitoring_shared_feeds",
                  postgresql_where=ACTIVE, sqlite_where=ACTIVE)
    with op.batch_alter_table("monitoring_shared_feeds", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_monitoring_shared_feeds_request_id"), ["request_id"])
