"""The ledger's tables: accounts with their balances, and immutable transfers between them.

Double entry as TigerBeetle and banks' core ledgers keep it: a transfer debits one account and
credits another by the same positive amount of fen. An account's balance is its credits minus
its debits, so the balances of all accounts always sum to zero. An account may go below zero only
if its kind allows it (the bank clearing account: the money of the world outside). Transfers are
never updated or deleted (the service writes none; database triggers refuse it, migration 0012).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.core.db import Base
from qianshu.core.timeutil import utcnow


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        # The service checks before it writes; this holds even if a bug did not.
        CheckConstraint("may_go_negative OR balance_fen >= 0", name="not_overdrawn"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # kind:owner[:reference], e.g. "wallet:12", "fees:exchange", "escrow:12:contract-7": unique,
    # which makes opening an account idempotent.
    code: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    # None: the exchange's own account (fees, bank clearing).
    owner_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    reference: Mapped[str] = mapped_column(String(100), default="")
    may_go_negative: Mapped[bool] = mapped_column(default=False)
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerTransfer(Base):
    __tablename__ = "ledger_transfers"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
        Index("ix_ledger_transfers_debit", "debit_account_id", "id"),
        Index("ix_ledger_transfers_credit", "credit_account_id", "id"),
        Index("ix_ledger_transfers_cause", "cause_type", "cause_id"),
        Index("ix_ledger_transfers_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Transfers posted together (``service.transfers``) share it; None for a transfer on its own.
    batch_id: Mapped[str | None] = mapped_column(String(32), index=True)
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    credit_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(30))
    # What caused it: ("bank_transfer", the bank's reference), ("contract", "17") ...
    cause_type: Mapped[str] = mapped_column(String(40))
    cause_id: Mapped[str] = mapped_column(String(100))
    memo: Mapped[str] = mapped_column(String(500), default="")
    # At most one transfer has a given reference (a bank transfer booked once, a contract settled once).
    unique_ref: Mapped[str | None] = mapped_column(String(160), unique=True)
    # Who: ids without foreign keys, so that no cascade ever touches a transfer.
    actor_user_id: Mapped[int | None] = mapped_column()
    actor_org_id: Mapped[int | None] = mapped_column()
    via: Mapped[str] = mapped_column(String(20), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The two accounts' balances right after this transfer (for statements' running balance).
    debit_balance_fen: Mapped[int] = mapped_column(BigInteger)
    credit_balance_fen: Mapped[int] = mapped_column(BigInteger)
