"""delivery: the watermarked copies made of each product

Revision ID: 0014_delivery_watermarks
Revises: 0013_ledger_books
Create Date: 2026-11-30

``delivery_watermarked_copies`` records every watermarked copy of a product: the recipient key
(a contract id) its marks are keyed to, the format and the number of rows. Detection looks for a
leak among these recipients. ``delivery_watermark_policies`` holds what a seller allows the
watermark of a product to change (identifying columns, each numeric column's tolerance).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0014_delivery_watermarks"
down_revision: str | None = "0013_ledger_books"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_watermarked_copies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("listing_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("recipient_key", sa.String(120), nullable=False),
        sa.Column("recipient_label", sa.String(200), nullable=False),
        sa.Column("file_format", sa.String(16), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_delivery_copies_listing", "delivery_watermarked_copies", ["listing_id", "recipient_key"])
    op.create_table(
        "delivery_watermark_policies",
        sa.Column("listing_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("identity", sa.JSON(), nullable=False),
        sa.Column("tolerances", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("delivery_watermark_policies")
    op.drop_index("ix_delivery_copies_listing", table_name="delivery_watermarked_copies")
    op.drop_table("delivery_watermarked_copies")
