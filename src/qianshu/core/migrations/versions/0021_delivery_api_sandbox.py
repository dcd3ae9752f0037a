"""delivery: the data API's keys, counters and meter; the sandbox's policies, budgets and query log

Revision ID: 0021_delivery_api_sandbox
Revises: 0020_delivery_links_sharing
Create Date: 2026-11-30

``delivery_api_keys`` holds the SHA-256 of each contract's API key (shown once) and when it was
revoked; ``delivery_api_counters`` the calls and rows of a key per minute (the rate limit) and of a
contract per day or month (the quota);
``delivery_api_meter`` the billable usage of a key per interval and the usage report that billed
it. ``delivery_sandbox_policies`` is the seller's sandbox settings of a product (k, epsilon per
query, each contract's budget, bounds); ``delivery_privacy_budgets`` each contract's budget and
what it spent; ``delivery_sandbox_queries`` every sandbox query and its outcome (never a value).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0021_delivery_api_sandbox"
down_revision: str | None = "0020_delivery_links_sharing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, qianshu.core.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "delivery_api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _when("created_at"),
        _when("revoked_at", nullable=True),
    )
    op.create_index("ix_delivery_api_keys_contract_id", "delivery_api_keys", ["contract_id"])
    op.create_table(
        "delivery_api_counters",
        sa.Column("scope", sa.String(40), primary_key=True),
        sa.Column("window", sa.String(8), primary_key=True),
        sa.Column("window_start", qianshu.core.db.UTCDateTime(timezone=True), primary_key=True),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "delivery_api_meter",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        _when("interval_start"),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("report_id", sa.String(100), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        _when("reported_at", nullable=True),
        sa.UniqueConstraint("key_id", "interval_start", name="uq_delivery_api_meter_interval"),
    )
    op.create_index("ix_delivery_api_meter_contract_id", "delivery_api_meter", ["contract_id"])
    op.create_index("ix_delivery_api_meter_reported_at", "delivery_api_meter", ["reported_at"])
    op.create_table(
        "delivery_sandbox_policies",
        sa.Column("listing_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("k", sa.Integer(), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=True),
        sa.Column("budget", sa.Float(), nullable=False),
        sa.Column("bounds", sa.JSON(), nullable=False),
        sa.Column("identifying", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        _when("updated_at"),
    )
    op.create_table(
        "delivery_privacy_budgets",
        sa.Column("contract_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("spent", sa.Float(), nullable=False),
        _when("updated_at"),
    )
    op.create_table(
        "delivery_sandbox_queries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("sql_sha256", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("groups_shown", sa.Integer(), nullable=False),
        sa.Column("groups_suppressed", sa.Integer(), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        _when("created_at"),
    )
    op.create_index("ix_delivery_sandbox_queries_contract_id", "delivery_sandbox_queries", ["contract_id"])


def downgrade() -> None:
    op.drop_index("ix_delivery_sandbox_queries_contract_id", table_name="delivery_sandbox_queries")
    op.drop_table("delivery_sandbox_queries")
    op.drop_table("delivery_privacy_budgets")
    op.drop_table("delivery_sandbox_policies")
    op.drop_index("ix_delivery_api_meter_reported_at", table_name="delivery_api_meter")
    op.drop_index("ix_delivery_api_meter_contract_id", table_name="delivery_api_meter")
    op.drop_table("delivery_api_meter")
    op.drop_table("delivery_api_counters")
    op.drop_index("ix_delivery_api_keys_contract_id", table_name="delivery_api_keys")
    op.drop_table("delivery_api_keys")
