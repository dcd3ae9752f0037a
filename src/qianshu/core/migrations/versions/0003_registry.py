"""data registration (registry)

Revision ID: 0003_registry
Revises: 0002_translog
Create Date: 2026-11-22
"""

from collections.abc import Sequence

revision: str = "0003_registry"
down_revision: str | None = "0002_translog"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
