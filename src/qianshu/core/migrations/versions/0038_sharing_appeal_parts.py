"""sharing: appeals of parts of a decision, and the bureau's grant of parts of an appeal

Revision ID: 0038_sharing_appeal_parts
Revises: 0037_vouchers_trust_scope
Create Date: 2026-12-01

``sharing_appeals`` gains what was appealed (``fields``: the fields asked back; ``period_start`` …
``period_end``: the period asked for) and what the bureau granted of it (``granted_fields``,
``granted_start`` … ``granted_end``). All are empty on appeals filed before: those appealed the
whole request. Downgrading drops the columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0038_sharing_appeal_parts'
down_revision: str | None = "0037_vouchers_trust_scope"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sharing_appeals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fields', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('period_start', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('period_end', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('granted_fields', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('granted_start', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('granted_end', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sharing_appeals', schema=None) as batch_op:
        for column in ('granted_end', 'granted_start', 'granted_fields', 'period_end', 'period_start', 'fields'):
            batch_op.drop_column(column)
