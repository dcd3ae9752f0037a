"""vouchers: related parties and broken-trust records belong to the administering organisation

Revision ID: 0037_vouchers_trust_scope
Revises: 0036_exchange_periods_backfill

A broken-trust (失信) record is about a company, and two companies are related whatever the programme,
so both now hold across every programme of the voucher administrator that keeps them (docs/vouchers.md).
Each row gains ``admin_org_id`` (its programme's administrator); ``programme_id`` stays as the
programme the record was made through. Nothing is merged or dropped: the one-row-per-programme
unique constraints go (a record made again after a lift is a new row, so the history stays in the
table), and rows of several programmes that hold at once are lifted together by the code.

Downgrading keeps the newest row per programme (and organisation, or pair), puts the
organisations of records in force back in each of the administrator's programmes'
``excluded_org_ids`` (which the code before read), and restores the constraints.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0037_vouchers_trust_scope"
down_revision: str | None = "0036_exchange_periods_backfill"
branch_labels = None
depends_on = None

# table, its columns that named one row per programme, its unique constraint's name
TABLES = (("voucher_related_parties", ("org_a_id", "org_b_id"), "uq_voucher_related_parties_programme_id"),
          ("voucher_broken_trust", ("org_id",), "uq_voucher_broken_trust_programme_id"))


def upgrade() -> None:
    for table, columns, unique in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("admin_org_id", sa.Integer(), nullable=True))
        op.execute(f"UPDATE {table} SET admin_org_id = (SELECT p.admin_org_id FROM voucher_programmes p "  # noqa: S608 - TABLES' constants
                   f"WHERE p.id = {table}.programme_id)")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("admin_org_id", existing_type=sa.Integer(), nullable=False)
            batch_op.create_foreign_key(batch_op.f(f"fk_{table}_admin_org_id_organisations"), "organisations",
                                        ["admin_org_id"], ["id"], ondelete="RESTRICT")
            batch_op.drop_constraint(unique, type_="unique")
            batch_op.create_index(f"ix_{table}_admin", ["admin_org_id", *columns], unique=False)


def downgrade() -> None:
    bind = op.get_bind()
    for table, columns, _unique in TABLES:
        keys = ", ".join(("programme_id", *columns))
        # the newest row of each programme (and organisation or pair) stays
        op.execute(f"DELETE FROM {table} WHERE id NOT IN (SELECT MAX(id) FROM {table} GROUP BY {keys})")  # noqa: S608 - constants
    programmes = sa.table("voucher_programmes", sa.column("id", sa.Integer()),
                          sa.column("admin_org_id", sa.Integer()), sa.column("excluded_org_ids", sa.JSON()))
    in_force: dict[int, set[int]] = {}
    for admin, org in bind.execute(sa.text("SELECT admin_org_id, org_id FROM voucher_broken_trust "
                                           "WHERE lifted_at IS NULL")):
        in_force.setdefault(admin, set()).add(org)
    for pid, admin in bind.execute(sa.select(programmes.c.id, programmes.c.admin_org_id)):
        bind.execute(programmes.update().where(programmes.c.id == pid)
                     .values(excluded_org_ids=sorted(in_force.get(admin, ()))))
    for table, columns, unique in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_admin")
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_admin_org_id_organisations"), type_="foreignkey")
            batch_op.create_unique_constraint(unique, ["programme_id", *columns])
            batch_op.drop_column("admin_org_id")
