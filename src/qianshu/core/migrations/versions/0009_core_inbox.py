"""core: the inbox (notifications per user and per organisation) replaces the catalogue's notifications

Revision ID: 0009_core_inbox
Revises: 0008_accounts_jurisdiction
Create Date: 2026-11-30

``inbox_notifications`` is written by every capability through ``core.inbox.notify``. The rows
of ``catalog_notifications`` move into it (same ids, read state and time), their product or
demand becoming the subject and the portal link; then the catalogue's table is dropped. The
downgrade moves the catalogue's notifications to users back.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0009_core_inbox"
down_revision: str | None = "0008_accounts_jurisdiction"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("capability", sa.String(length=40), nullable=False),
        sa.Column("message", sa.String(length=200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("subject_type", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("link", sa.String(length=300), nullable=False),
        sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("user_id IS NOT NULL OR org_id IS NOT NULL",
                           name=op.f("ck_inbox_notifications_addressed")),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_inbox_notifications_org_id_organisations"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_inbox_notifications_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_notifications")),
    )
    op.create_index("ix_inbox_notifications_org_read", "inbox_notifications", ["org_id", "read_at"], unique=False)
    op.create_index("ix_inbox_notifications_user_read", "inbox_notifications", ["user_id", "read_at"], unique=False)
    op.execute(
        "INSERT INTO inbox_notifications (id, user_id, org_id, capability, message, params, subject_type, "
        "subject_id, link, created_at, read_at) "
        "SELECT id, user_id, NULL, 'catalog', message, params, "
        "CASE WHEN listing_id IS NOT NULL THEN 'listing' WHEN demand_id IS NOT NULL THEN 'demand' ELSE '' END, "
        "COALESCE(listing_id, demand_id), "
        "CASE WHEN listing_id IS NOT NULL THEN '/catalog/' || CAST(listing_id AS VARCHAR(20)) "
        "WHEN demand_id IS NOT NULL THEN '/demands/' || CAST(demand_id AS VARCHAR(20)) ELSE '' END, "
        "created_at, read_at FROM catalog_notifications"
    )
    _continue_ids_after_copied_rows()
    op.drop_index("ix_catalog_notifications_user_read", table_name="catalog_notifications")
    op.drop_table("catalog_notifications")


def _continue_ids_after_copied_rows() -> None:
    """PostgreSQL's sequence does not see explicit ids (SQLite's rowid does)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('inbox_notifications', 'id'), "
                   "COALESCE((SELECT max(id) FROM inbox_notifications), 0) + 1, false)")


def downgrade() -> None:
    op.create_table(
        "catalog_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.Integer(), nullable=True),
        sa.Column("demand_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.String(length=200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["demand_id"], ["catalog_demands.id"],
                                name=op.f("fk_catalog_notifications_demand_id_catalog_demands"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["listing_id"], ["catalog_listings.id"],
                                name=op.f("fk_catalog_notifications_listing_id_catalog_listings"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_catalog_notifications_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_notifications")),
    )
    op.create_index("ix_catalog_notifications_user_read", "catalog_notifications", ["user_id", "read_at"],
                    unique=False)
    op.execute(
        "INSERT INTO catalog_notifications (id, user_id, listing_id, demand_id, message, params, created_at, read_at) "
        "SELECT id, user_id, "
        "CASE WHEN subject_type = 'listing' AND subject_id IN (SELECT id FROM catalog_listings) THEN subject_id END, "
        "CASE WHEN subject_type = 'demand' AND subject_id IN (SELECT id FROM catalog_demands) THEN subject_id END, "
        "message, params, created_at, read_at FROM inbox_notifications "
        "WHERE capability = 'catalog' AND user_id IS NOT NULL"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('catalog_notifications', 'id'), "
                   "COALESCE((SELECT max(id) FROM catalog_notifications), 0) + 1, false)")
    op.drop_index("ix_inbox_notifications_user_read", table_name="inbox_notifications")
    op.drop_index("ix_inbox_notifications_org_read", table_name="inbox_notifications")
    op.drop_table("inbox_notifications")
