"""Request bodies of vouchers. Money in integer fen, ratios in basis points (1 % = 100)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from qianshu.core.errors import InvalidInput
from qianshu.core.money import MAX_FEN

ServiceKind = Literal["training", "fine_tuning", "inference"]
ProgrammeKind = Literal["compute", "model", "data"]
Purpose = Literal["large_model_training", "industry_model_adaptation", "inference_service", "data_product"]
CompanySize = Literal["micro", "small", "medium", "large"]
Precision = Literal["FP64", "FP32", "TF32", "FP16", "BF16", "FP8", "INT8"]
DIVISION = r"^52[0-9]{4}$"  # a Guizhou division (GB/T 2260)


def _sizes() -> list[CompanySize]:
    return ["micro", "small", "medium"]


def _purposes() -> list[Purpose]:
    return ["large_model_training", "industry_model_adaptation"]


class OfferingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_centre: str = Field(min_length=2, max_length=200)
    division_code: str = Field(pattern=DIVISION)
    accelerator: str = Field(min_length=1, max_length=100)
    card_count: int = Field(gt=0, le=1_000_000)
    card_hours_per_month: int = Field(gt=0, le=10**10)
    price_fen_per_card_hour: int = Field(gt=0, le=10**8)
    service_kind: ServiceKind
    declared_tflops: int = Field(gt=0, le=10**12)
    precision: Precision


class ProgrammeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name_zh: str = Field(min_length=2, max_length=200)
    name_en: str = Field(default="", max_length=200)
    kind: ProgrammeKind = "compute"
    budget_fen: int = Field(gt=0, le=MAX_FEN)
    starts_on: date
    ends_on: date
    eligible_division: str = Field(default="520000", pattern=DIVISION)
    eligible_sizes: list[CompanySize] = Field(default_factory=lambda: _sizes(), min_length=1)
    eligible_purposes: list[Purpose] = Field(default_factory=lambda: _purposes(), min_length=1)
    excluded_org_ids: list[int] = Field(default_factory=list, max_length=10_000)
    # The share of a bill vouchers may pay: 0 … 10 000 basis points (0 … 100 %).
    ratio_bp: int = Field(ge=0, le=10_000)
    cap_company_year_fen: int = Field(gt=0, le=MAX_FEN)
    cap_contract_fen: int = Field(gt=0, le=MAX_FEN)
    face_values_fen: list[int] = Field(min_length=1, max_length=20)
    voucher_valid_days: int = Field(gt=0, le=3660)
    max_term_months: int = Field(gt=0, le=120)
    one_voucher_per_contract: bool = False
    require_payment_proof: bool = False
    provider_org_ids: list[int] = Field(min_length=1, max_length=1000)


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: Purpose
    company_size: CompanySize
    planned_use: str = Field(min_length=5, max_length=4000)
    requested_fen: int = Field(gt=0, le=MAX_FEN)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool
    reason: str = Field(default="", max_length=2000)
    # On approval: the face values of the vouchers to issue (each one of the programme's).
    face_values_fen: list[int] = Field(default_factory=list, max_length=100)


# An organisation named by its id or by its USCC (18 letters and digits; its check digit is checked
# when it is looked up, with the identifier's own message).
OrgRef = Annotated[int, Field(gt=0)] | Annotated[str, Field(pattern=r"^[0-9A-Za-z]{18}$")]


class RelatedIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    org_a_id: OrgRef = Field(description="The organisation's id or USCC.")
    org_b_id: OrgRef = Field(description="The related organisation's id or USCC.")
    reason: str = Field(default="", max_length=2000)  # why they are related (a shareholding, ...)


class UnmarkRelatedIn(BaseModel):
    """Two organisations are no longer related, and why (required)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    org_a_id: OrgRef = Field(description="The organisation's id or USCC.")
    org_b_id: OrgRef = Field(description="The related organisation's id or USCC.")
    reason: str = Field(min_length=2, max_length=2000)


class BrokenTrustIn(BaseModel):
    """A broken-trust (失信) record: whose, where it comes from, why."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    org_id: OrgRef = Field(description="The organisation's id or USCC.")
    source: str = Field(min_length=2, max_length=200)
    reason: str = Field(min_length=2, max_length=2000)


class LiftBrokenTrustIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    org_id: OrgRef = Field(description="The organisation's id or USCC.")
    reason: str = Field(min_length=2, max_length=2000)


class OrganisationMatch(BaseModel):
    """An approved organisation as the name search shows it: public facts only."""

    id: int = Field(description="Its id, which the record endpoints take as well as its USCC.")
    name: str
    name_en: str
    uscc: str
    org_type: str
    label: str = Field(description="Its name and type in the language asked for (Accept-Language).")


class OrganisationMatches(BaseModel):
    organisations: list[OrganisationMatch] = Field(description="At most 20, those starting with the text first.")


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offering_id: int = Field(gt=0)
    card_hours: int = Field(gt=0, le=10**9)
    month: str = Field(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$")
    term_months: int = Field(default=1, gt=0, le=120)
    purpose: Purpose
    voucher_ids: list[int] = Field(default_factory=list, max_length=50)
    # How much the vouchers should pay; without it, as much as the ratio, the cap and the vouchers allow.
    voucher_fen: int | None = Field(default=None, ge=0, le=MAX_FEN)


class UsageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    used_card_hours: int = Field(ge=0, le=10**9)
    evidence_name: str = Field(min_length=1, max_length=200)
    evidence_base64: str = Field(min_length=1, max_length=40_000_000)


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoice_number: str = Field(min_length=4, max_length=60)
    delivery_proof_base64: str = Field(min_length=1, max_length=40_000_000)
    payment_proof_base64: str = Field(default="", max_length=40_000_000)


class ClaimDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool
    reason: str = Field(default="", max_length=2000)


class ContractPaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contract_id: int = Field(gt=0)
    purpose: Purpose = "data_product"
    voucher_ids: list[int] = Field(min_length=1, max_length=50)


# --- the portal's forms: amounts typed in yuan, the ratio in per cent, converted before validation ---

def _fen(value: object, field: str) -> object:
    """A yuan amount typed in a form ("1,250.50") as fen; anything but text is left to the field's type."""
    from qianshu.ledger.service import parse_yuan

    return parse_yuan(value, field) if isinstance(value, str) and value.strip() else value


def _guizhou(value: object, field: str) -> object:
    if isinstance(value, str) and not re.fullmatch(DIVISION, value.strip()):
        raise InvalidInput("{field} must be a division code of Guizhou: six digits starting with 52.", field=field,
                           code="not_a_guizhou_division")
    return value.strip() if isinstance(value, str) else value


class OfferingForm(OfferingIn):
    """The portal's offering form: ``price_fen_per_card_hour`` is typed in yuan."""

    @field_validator("division_code", mode="before")
    @classmethod
    def _division(cls, value: object) -> object:
        return _guizhou(value, "division_code")

    @field_validator("price_fen_per_card_hour", mode="before")
    @classmethod
    def _price(cls, value: object) -> object:
        return _fen(value, "price_fen_per_card_hour")


class ProgrammeForm(ProgrammeIn):
    """The portal's programme form: the budget, caps and face values (comma-separated) are typed in
    yuan, the ratio in per cent (``30`` or ``12.5``)."""

    @field_validator("budget_fen", "cap_company_year_fen", "cap_contract_fen", mode="before")
    @classmethod
    def _amount(cls, value: object, info: ValidationInfo) -> object:
        return _fen(value, str(info.field_name))

    @field_validator("eligible_division", mode="before")
    @classmethod
    def _division(cls, value: object) -> object:
        return _guizhou(value, "eligible_division")

    @field_validator("eligible_sizes", "eligible_purposes", "provider_org_ids", mode="before")
    @classmethod
    def _ticked(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, list) and not value:
            raise InvalidInput("{field}: tick at least one.", field=str(info.field_name), code="none_ticked")
        return value

    @field_validator("face_values_fen", mode="before")
    @classmethod
    def _faces(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for p in value.replace("，", ",").replace("、", ",").split(",") if p.strip()]
            return [_fen(p, "face_values_fen") for p in parts]
        return value

    @field_validator("ratio_bp", mode="before")
    @classmethod
    def _percent(cls, value: object) -> object:
        if not isinstance(value, str) or not value.strip():
            return value
        try:
            percent = Decimal(value.strip().rstrip("%").strip())
        except InvalidOperation:
            percent = Decimal(-1)
        if not percent.is_finite() or not 0 <= percent <= 100 or percent != percent.quantize(Decimal("0.01")):
            raise InvalidInput("{field} must be a share between 0 and 100 %, to two decimals.", field="ratio_bp",
                               code="ratio_out_of_range")
        return int(percent * 100)
