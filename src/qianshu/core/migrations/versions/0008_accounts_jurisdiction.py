"""accounts: a user's jurisdiction (a GB/T 2260 division code the permission policy reads)

Revision ID: 0008_accounts_jurisdiction
Revises: 0007_jobs_periodic_runs
Create Date: 2026-11-30

``users.jurisdiction`` holds a province, prefecture or county code (6 digits) or a township
(9 digits) or village (12 digits) statistical code; rules of the permission policy
(core/policy.py) may require a resource's division to lie within it. Empty for every existing
user, so nothing they may do changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_accounts_jurisdiction"
down_revision: str | None = "0007_jobs_periodic_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("jurisdiction", sa.String(length=12), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+ has it), not a batch copy: rebuilding ``users`` on SQLite
    # drops the old table, and its ON DELETE CASCADE children (notifications, tokens) would go too.
    op.drop_column("users", "jurisdiction")
