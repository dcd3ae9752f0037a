"""staff get exactly their documented rights

Revision ID: 0006_staff_roles
Revises: 0005_search_index
Create Date: 2026-11-30

Earlier releases made every staff user an administrator (``org_role = 'admin'``) of the
exchange's own organisation, so a reviewer or an auditor could invite and remove users,
operators included. Only operators administer that organisation's users now: reviewers and
auditors become plain members. The downgrade leaves them so, since handing those rights back
would reopen the hole.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_staff_roles"
down_revision: str | None = "0005_search_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE users SET org_role = 'member' "
               "WHERE staff_role IN ('reviewer', 'auditor') AND org_role = 'admin'")


def downgrade() -> None:
    pass
