"""ledger: double-entry accounts and immutable transfers; core: idempotency keys

Revision ID: 0012_ledger_books
Revises: 0011_registry_ingest_options
Create Date: 2026-11-30

``ledger_accounts`` hold each account's balance in fen (BIGINT; CHECK: not below zero unless the
kind allows it); ``ledger_transfers`` are double-entry transfers (CHECK: amount > 0, two
different accounts) that triggers keep immutable: an UPDATE or DELETE of a transfer fails on
both databases. ``idempotency_keys`` (core/idempotency.py) keeps the first result of each
money-moving API call per (caller, key).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import qianshu.core.db

revision: str = "0012_ledger_books"
down_revision: str | None = "0011_registry_ingest_options"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IMMUTABLE = "ledger transfers are immutable"


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("owner_org_id", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("may_go_negative", sa.Boolean(), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("may_go_negative OR balance_fen >= 0", name=op.f("ck_ledger_accounts_not_overdrawn")),
        sa.ForeignKeyConstraint(["owner_org_id"], ["organisations.id"],
                                name=op.f("fk_ledger_accounts_owner_org_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("code", name=op.f("uq_ledger_accounts_code")),
    )
    op.create_index(op.f("ix_ledger_accounts_owner_org_id"), "ledger_accounts", ["owner_org_id"], unique=False)
    op.create_table(
        "ledger_transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=True),
        sa.Column("debit_account_id", sa.Integer(), nullable=False),
        sa.Column("credit_account_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("cause_type", sa.String(length=40), nullable=False),
        sa.Column("cause_id", sa.String(length=100), nullable=False),
        sa.Column("memo", sa.String(length=500), nullable=False),
        sa.Column("unique_ref", sa.String(length=160), nullable=True),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_org_id", sa.Integer(), nullable=True),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("debit_balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("credit_balance_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_ledger_transfers_amount_positive")),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name=op.f("ck_ledger_transfers_two_accounts")),
        sa.ForeignKeyConstraint(["credit_account_id"], ["ledger_accounts.id"],
                                name=op.f("fk_ledger_transfers_credit_account_id_ledger_accounts")),
        sa.ForeignKeyConstraint(["debit_account_id"], ["ledger_accounts.id"],
                                name=op.f("fk_ledger_transfers_debit_account_id_ledger_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transfers")),
        sa.UniqueConstraint("unique_ref", name=op.f("uq_ledger_transfers_unique_ref")),
    )
    op.create_index(op.f("ix_ledger_transfers_batch_id"), "ledger_transfers", ["batch_id"], unique=False)
    op.create_index("ix_ledger_transfers_debit", "ledger_transfers", ["debit_account_id", "id"], unique=False)
    op.create_index("ix_ledger_transfers_credit", "ledger_transfers", ["credit_account_id", "id"], unique=False)
    op.create_index("ix_ledger_transfers_cause", "ledger_transfers", ["cause_type", "cause_id"], unique=False)
    op.create_index("ix_ledger_transfers_created_at", "ledger_transfers", ["created_at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION ledger_transfers_immutable() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN RAISE EXCEPTION '{IMMUTABLE}'; END $$")
        op.execute("CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE ON ledger_transfers "
                   "FOR EACH ROW EXECUTE FUNCTION ledger_transfers_immutable()")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER ledger_transfers_no_{event.lower()} BEFORE {event} ON ledger_transfers "
                       f"BEGIN SELECT RAISE(ABORT, '{IMMUTABLE}'); END")
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("caller", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", qianshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("caller", "key", name="uq_idempotency_keys_caller_key"),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_table("ledger_transfers")  # its indexes and triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION ledger_transfers_immutable()")
    op.drop_index(op.f("ix_ledger_accounts_owner_org_id"), table_name="ledger_accounts")
    op.drop_table("ledger_accounts")
