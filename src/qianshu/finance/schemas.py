"""Request bodies of finance. Money in integer fen, rates in basis points (1 % = 100)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_FEN = 10**15  # ten trillion yuan: anything larger is a typing mistake


class PledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    certificate_number: str = Field(min_length=1, max_length=40)
    pledgor_org_id: int = Field(gt=0)  # the holder the bank lends to: must hold the certificate
    secured_fen: int = Field(gt=0, le=MAX_FEN)
    # Valuations are not built yet: the bank enters the appraised value the loan-to-value uses.
    appraised_fen: int = Field(gt=0, le=MAX_FEN)
    interest_bp: int = Field(ge=0, le=3600)  # at most 36 % a year
    term_months: int = Field(gt=0, le=360)
    risk_pool_bp: int | None = Field(default=None, ge=0, le=10_000)
    external_registry: str = Field(default="", max_length=100)
    external_number: str = Field(default="", max_length=60)


class AmendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secured_fen: int | None = Field(default=None, gt=0, le=MAX_FEN)
    interest_bp: int | None = Field(default=None, ge=0, le=3600)
    term_months: int | None = Field(default=None, gt=0, le=360)
    reason: str = Field(default="", max_length=2000)


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2000)


class LtvLimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str = Field(default="", max_length=3, pattern=r"^([A-T]|[A-T][0-9]{2})?$")
    limit_bp: int = Field(gt=0, le=10_000)
