"""Pydantic schemas of the ledger's API (separate from the ORM models)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qianshu.core.text import clean_text


class BankMovementIn(BaseModel):
    """A deposit or withdrawal an operator records: the bank transfer itself happened outside."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    org_id: int = Field(ge=1)
    # Checked by the service (ledger.service.parse_amount), so that a negative, zero, fractional or
    # non-numeric amount gets the ledger's own message naming the field.
    amount_fen: Any = Field(description="A positive whole number of fen (1 yuan = 100 fen).",
                            json_schema_extra={"type": "integer", "minimum": 1})
    bank_reference: str = Field(min_length=1, max_length=100)
    memo: str = Field(default="", max_length=500)

    @field_validator("bank_reference", "memo")
    @classmethod
    def _clean(cls, value: str) -> str:
        return clean_text(value)


class TransferOut(BaseModel):
    id: int
    batch_id: str | None
    debit_account_id: int
    credit_account_id: int
    amount_fen: int
    kind: str
    cause_type: str
    cause_id: str
    memo: str
    created_at: datetime
    debit_balance_fen: int
    credit_balance_fen: int


class WalletOut(BaseModel):
    org_id: int
    account_id: int | None
    code: str
    balance_fen: int


class StatementLineOut(BaseModel):
    transfer_id: int
    at: datetime
    kind: str
    cause_type: str
    cause_id: str
    memo: str
    counterparty: str
    money_in_fen: int
    money_out_fen: int
    balance_fen: int


class StatementOut(BaseModel):
    account_id: int | None
    code: str
    owner_org_id: int | None
    balance_fen: int
    total_in_fen: int
    total_out_fen: int
    truncated: bool
    lines: list[StatementLineOut]


class AccountBalanceOut(BaseModel):
    account_id: int
    code: str
    kind: str
    owner: str
    debit_fen: int
    credit_fen: int


class TrialBalanceOut(BaseModel):
    as_of: date
    balanced: bool
    total_debit_fen: int
    total_credit_fen: int
    agrees_with_accounts: bool | None
    by_kind: dict[str, int]
    rows: list[AccountBalanceOut]


class FeeMonthOut(BaseModel):
    month: str
    transfers: int
    earned_fen: int
    returned_fen: int
    net_fen: int
