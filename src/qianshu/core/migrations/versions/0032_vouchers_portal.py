"""vouchers: related parties can be unmarked with a reason; broken-trust records with source and reason

Revision ID: 0032_vouchers_portal
Revises: 0031_finance_sale
Create Date: 2026-11-30

``voucher_related_parties`` gains why a pair was marked and when and why it was unmarked (a pair
marked again renews its row). ``voucher_broken_trust`` holds a programme's broken-trust (失信)
records of organisations, with their source and reason, and when and why one was lifted; while one
holds, its organisation is in the programme's ``excluded_org_ids``. The organisations already in a
programme's ``excluded_org_ids`` become records (without source or reason), so they can be lifted.
Downgrading drops the table and the three columns (``excluded_org_ids`` keeps who is excluded).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = '0032_vouchers_portal'
down_revision: str | None = '0031_finance_sale'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("voucher_related_parties", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("unmarked_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("unmark_reason", sa.Text(), server_default="", nullable=False))
    trust = op.create_table(
        "voucher_broken_trust",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_voucher_broken_trust_org_id_organisations"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["programme_id"], ["voucher_programmes.id"],
                                name=op.f("fk_voucher_broken_trust_programme_id_voucher_programmes"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_broken_trust")),
        sa.UniqueConstraint("programme_id", "org_id", name=op.f("uq_voucher_broken_trust_programme_id")),
    )
    with op.batch_alter_table("voucher_broken_trust", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voucher_broken_trust_org_id"), ["org_id"], unique=False)
    # programmes' exclusions so far become records
    bind = op.get_bind()
    programmes = sa.table("voucher_programmes", sa.column("id", sa.Integer()), sa.column("excluded_org_ids", sa.JSON()),
                          sa.column("created_at", qianshu.core.db.UTCDateTime(timezone=True)))
    orgs = {row[0] for row in bind.execute(sa.text("SELECT id FROM organisations"))}
    rows = [{"programme_id": pid, "org_id": org_id, "source": "", "reason": "", "recorded_at": created,
             "lifted_at": None, "lift_reason": ""}
            for pid, excluded, created in bind.execute(sa.select(programmes.c.id, programmes.c.excluded_org_ids,
                                                                 programmes.c.created_at))
            for org_id in sorted(set(excluded or ())) if org_id in orgs]
    if rows:
        op.bulk_insert(trust, rows)


def downgrade() -> None:
    with op.batch_alter_table("voucher_broken_trust", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voucher_broken_trust_org_id"))
    op.drop_table("voucher_broken_trust")
    with op.batch_alter_table("voucher_related_parties", schema=None) as batch_op:
        batch_op.drop_column("unmark_reason")
        batch_op.drop_column("unmarked_at")
        batch_op.drop_column("reason")
