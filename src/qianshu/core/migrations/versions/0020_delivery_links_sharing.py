"""delivery: signed download links and Delta Sharing tokens

Revision ID: 0020_delivery_links_sharing
Revises: 0019_exchange_periods
Create Date: 2026-11-30

``delivery_download_links`` holds each signed download link issued to a contract's buyer (format,
expiry, fetches); ``delivery_sharing_tokens`` each Delta Sharing bearer token of a contract, as its
SHA-256 only, with its expiry and revocation.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0020_delivery_links_sharing"
down_revision: str | None = "0019_exchange_periods"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_download_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("file_format", sa.String(16), nullable=False),
        sa.Column("expires_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.Integer(), nullable=True),
        sa.Column("issued_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fetches", sa.Integer(), nullable=False),
        sa.Column("last_fetched_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_delivery_links_contract", "delivery_download_links", ["contract_id", "id"])
    op.create_table(
        "delivery_sharing_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_delivery_sharing_contract", "delivery_sharing_tokens", ["contract_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_delivery_sharing_contract", table_name="delivery_sharing_tokens")
    op.drop_table("delivery_sharing_tokens")
    op.drop_index("ix_delivery_links_contract", table_name="delivery_download_links")
    op.drop_table("delivery_download_links")
