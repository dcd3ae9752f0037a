"""Request bodies of finance. Money in integer fen, rates in basis points (1 % = 100)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from qianshu.core.errors import InvalidInput

MAX_FEN = 10**15  # ten trillion yuan: anything larger is a typing mistake


# A pledge's rates in basis points: the interest at most 36 % a year, the risk pool's share at most all
RATE_RANGES = {"interest_bp": 3600, "risk_pool_bp": 10_000}


def _rate(value: int | None, name: str) -> int | None:
    """Refused in percent, the unit the portal's forms take (not "at most 3600" to one who typed 500 %)."""
    if value is not None and not 0 <= value <= RATE_RANGES[name]:
        raise InvalidInput("{field} must lie between {low} % and {high} %.", field=name, low="0",
                           high=f"{RATE_RANGES[name] / 100:g}")
    return value


class PledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    certificate_number: str = Field(min_length=1, max_length=40)
    pledgor_org_id: int = Field(gt=0)  # the holder the bank lends to: must hold the certificate
    secured_fen: int = Field(gt=0, le=MAX_FEN)
    # The asset's latest signed valuation is what the loan-to-value uses; only an asset without
    # one may be pledged on a value the bank enters itself.
    appraised_fen: int | None = Field(default=None, gt=0, le=MAX_FEN)
    interest_bp: int = Field(json_schema_extra={"minimum": 0, "maximum": 3600})  # at most 36 % a year
    term_months: int = Field(ge=1, le=360)
    risk_pool_bp: int | None = Field(default=None, json_schema_extra={"minimum": 0, "maximum": 10_000})
    external_registry: str = Field(default="", max_length=100)
    external_number: str = Field(default="", max_length=60)

    @field_validator("interest_bp", "risk_pool_bp")
    @classmethod
    def _rates(cls, value: int | None, info: ValidationInfo) -> int | None:
        return _rate(value, str(info.field_name))


class AmendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secured_fen: int | None = Field(default=None, gt=0, le=MAX_FEN)
    interest_bp: int | None = Field(default=None, json_schema_extra={"minimum": 0, "maximum": 3600})
    term_months: int | None = Field(default=None, ge=1, le=360)
    reason: str = Field(default="", max_length=2000)

    @field_validator("interest_bp")
    @classmethod
    def _interest(cls, value: int | None) -> int | None:
        return _rate(value, "interest_bp")


class AmendmentDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agree: bool


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2000)


class EnforceIn(BaseModel):
    """``record``: the default is recorded (the bank realises the pledge outside the exchange);
    ``transfer``: the rights pass to the bank through the registry's transfer; ``sale``: the asset is
    offered in a forced sale on the exchange at ``price_fen`` (required then): with ``closes_in_days``
    by auction, ``price_fen`` being the reserve and ``step_fen`` the least a bid must beat the best by."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2000)
    mode: Literal["record", "transfer", "sale"] = "record"
    price_fen: int | None = Field(default=None, gt=0, le=MAX_FEN)
    closes_in_days: int | None = Field(default=None, ge=1, le=30)
    step_fen: int | None = Field(default=None, gt=0, le=MAX_FEN)


class BidIn(BaseModel):
    """A bid in a forced sale's auction, in fen."""

    model_config = ConfigDict(extra="forbid")

    amount_fen: int = Field(gt=0, le=MAX_FEN)


class LtvLimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str = Field(default="", max_length=3, pattern=r"^([A-T]|[A-T][0-9]{2})?$")
    limit_bp: int

    @field_validator("limit_bp")
    @classmethod
    def _limit(cls, value: int) -> int:  # said in percent: the portal's form takes percent, the API basis points
        if not 1 <= value <= 10_000:
            raise InvalidInput("{field} must lie between {low} % and {high} %.", field="limit_bp", low="0.01",
                               high="100")
        return value


class ValuationStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    certificate_number: str = Field(min_length=1, max_length=40)


MONEY_FIELDS = ("acquisition_fen", "processing_fen", "storage_fen", "labour_fen", "rights_fen", "quality_fen")
# (low, high) in basis points, and whether the page shows the field as a percent or as a factor
PERCENT_RANGES = {"obsolescence_bp": (0, 9999), "share_bp": (1, 10_000), "discount_bp": (1, 5000)}
FACTOR_RANGES = {"quality_factor_bp": (1000, 20_000), "scale_bp": (1000, 30_000), "market_quality_bp": (1000, 30_000),
                 "timeliness_bp": (1000, 30_000), "supply_demand_bp": (1000, 30_000), "rights_bp": (1000, 30_000)}


def _money(value: int, name: str) -> int:
    if value < 0:
        raise InvalidInput("{field} cannot be negative.", field=name)
    if value > MAX_FEN:
        raise InvalidInput("{field} is implausibly large (at most 10 trillion yuan).", field=name)
    return value


class ValuationIn(BaseModel):
    """Every figure of the worksheet (the three approaches) and the approach concluded on.
    Money in fen; percentages and adjustment factors in basis points (a factor of 1.0 is 10 000)."""

    model_config = ConfigDict(extra="forbid")

    # cost approach: what it costs to rebuild the data, then the adjustments
    acquisition_fen: int
    processing_fen: int
    storage_fen: int
    labour_fen: int
    rights_fen: int
    quality_fen: int
    quality_factor_bp: int
    obsolescence_bp: int
    # income approach: the forecast income of each year (the last carries on over the life)
    incomes_fen: list[int] = Field(min_length=1, max_length=50)
    share_bp: int
    discount_bp: int  # at most 50 % a year: 500 % is a typing mistake
    life_years: int
    # market approach: factors applied to the licence prices of comparable settled contracts
    # (capacity, quality, time, supply and demand, rights/scope of the licence), and how many
    # licences at that price the asset is expected to sell a year (capitalised over the life)
    scale_bp: int
    market_quality_bp: int
    timeliness_bp: int
    supply_demand_bp: int = 10_000
    rights_bp: int
    licences_per_year: int = Field(ge=1, le=1_000_000)
    method: Literal["cost", "income", "market"] = "cost"
    notes: str = Field(default="", max_length=5000)

    @field_validator(*MONEY_FIELDS)
    @classmethod
    def _amount(cls, value: int, info: ValidationInfo) -> int:
        return _money(value, str(info.field_name))

    @field_validator("incomes_fen")
    @classmethod
    def _incomes(cls, value: list[int]) -> list[int]:
        return [_money(v, "incomes_fen") for v in value]

    @field_validator(*PERCENT_RANGES)
    @classmethod
    def _percent(cls, value: int, info: ValidationInfo) -> int:
        low, high = PERCENT_RANGES[str(info.field_name)]
        if not low <= value <= high:
            raise InvalidInput("{field} must lie between {low} % and {high} %.", field=str(info.field_name),
                               low=f"{low / 100:g}",
                               high=f"{high / 100:g}")
        return value

    @field_validator(*FACTOR_RANGES)
    @classmethod
    def _factor(cls, value: int, info: ValidationInfo) -> int:
        low, high = FACTOR_RANGES[str(info.field_name)]
        if not low <= value <= high:
            raise InvalidInput("{field} must lie between {low} and {high}.", field=str(info.field_name),
                               low=f"{low / 10_000:g}",
                               high=f"{high / 10_000:g}")
        return value

    @field_validator("life_years")
    @classmethod
    def _life(cls, value: int) -> int:
        if not 1 <= value <= 50:
            raise InvalidInput("{field} must lie between 1 and 50 years.", field="life_years")
        return value


class AssetCostIn(BaseModel):
    """A cost the holder booked for one of its registered data assets (fen)."""

    model_config = ConfigDict(extra="forbid")

    registration_id: int = Field(gt=0)
    category: Literal["acquisition", "collection", "processing", "storage", "labour", "rights", "quality",
                      "registration", "appraisal", "other"]
    amount_fen: int = Field(gt=0, le=MAX_FEN)
    incurred_on: date
    note: str = Field(default="", max_length=500)


class AccountingChoiceIn(BaseModel):
    """``own_use`` (used or licensed by the holder: an intangible asset) or ``for_sale`` (held for
    sale in its ordinary activities: inventory); the useful life in months (intangible assets)."""

    model_config = ConfigDict(extra="forbid")

    registration_id: int = Field(gt=0)
    intent: Literal["own_use", "for_sale"]
    useful_life_months: int = Field(default=60, ge=1, le=600)
