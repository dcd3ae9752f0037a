"""Pydantic schemas of the catalogue's API and forms (separate from the ORM models)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qianshu.catalog.models import DATA_TYPES, DELIVERY_MODES
from qianshu.catalog.vocab import LICENCES
from qianshu.core.text import clean_text

DataType = Literal["table", "time_series", "geospatial", "text", "media"]
DeliveryMode = Literal["download", "delta_sharing", "api", "sandbox"]
PlanKind = Literal["free", "one_time", "monthly", "yearly", "per_call", "per_1000_rows", "quote"]
Purpose = Literal[
    "research", "public_service", "internal_analytics", "commercial", "credit_assessment", "ai_training", "marketing"
]
assert set(get_args(DataType)) == set(DATA_TYPES)
assert set(get_args(DeliveryMode)) == set(DELIVERY_MODES)
LicenceKey = Literal["qianshu-exchange-1.0", "cc-by-4.0", "cc-by-nc-4.0"]
assert set(get_args(LicenceKey)) == set(LICENCES)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_chars(cls, value: object) -> object:
        if isinstance(value, str):
            return clean_text(value)
        if isinstance(value, list):
            return [clean_text(v) if isinstance(v, str) else v for v in value]
        return value


class ListingIn(_Strict):
    registration_id: int = Field(ge=1)
    title_zh: str = Field(default="", max_length=200)
    title_en: str = Field(default="", max_length=200)
    description_zh: str = Field(default="", max_length=20_000)
    description_en: str = Field(default="", max_length=20_000)
    tags: list[str] = Field(default_factory=list, max_length=20)
    data_type: DataType = "table"
    licence: LicenceKey = Field(default="qianshu-exchange-1.0", description="GET /api/v1/catalog/licences")


class ListingUpdate(_Strict):
    """Only the fields given change. ``version`` is the version the editor saw (no lost update)."""

    version: int = Field(ge=1)
    title_zh: str | None = Field(default=None, max_length=200)
    title_en: str | None = Field(default=None, max_length=200)
    description_zh: str | None = Field(default=None, max_length=20_000)
    description_en: str | None = Field(default=None, max_length=20_000)
    tags: list[str] | None = Field(default=None, max_length=20)
    data_type: DataType | None = None
    licence: LicenceKey | None = None
    note: str = Field(default="", max_length=500)


class PolicyIn(_Strict):
    purposes: list[Purpose] = Field(
        default_factory=lambda: ["research", "internal_analytics"],  # type: ignore[arg-type]
        min_length=1,
        max_length=7,
    )
    term_days: int | None = Field(default=365, ge=1, le=36500)
    territory: Literal["CN-GZ", "CN"] = "CN"
    onward_transfer: bool = False
    resale: bool = False
    attribution: bool = True


class PlanIn(_Strict):
    name_zh: str = Field(default="", max_length=100)
    name_en: str = Field(default="", max_length=100)
    kind: PlanKind
    price: str = Field(default="", max_length=40, description="Price in yuan, e.g. '1200' or '0.05'.")
    delivery_modes: list[DeliveryMode] = Field(min_length=1, max_length=4)
    policy: PolicyIn = Field(default_factory=PolicyIn)
    confirm_personal_data: bool = Field(
        default=False, description="The seller confirms a download of sensitive personal data the scan found "
                                   "(needed when adding a download plan to a product already reviewed).")


class SubmitIn(_Strict):
    confirm_personal_data: bool = Field(
        default=False, description="The seller confirms that the product may offer for download the sensitive "
                                   "personal data (resident IDs ...) the registration's scan found.")


class Decision(_Strict):
    reason: str = Field(default="", max_length=2000)


class ListingActionIn(_Strict):
    """The portal's listing buttons: a reason (pause, delist) and the personal-data confirmation (submit)."""

    reason: str = Field(default="", max_length=2000)
    confirm_personal_data: bool = False


class SavedSearchIn(_Strict):
    name: str = Field(min_length=1, max_length=100)
    params: dict[str, str | int] = Field(default_factory=dict)


class DemandIn(_Strict):
    title: str = Field(min_length=2, max_length=200)
    description: str = Field(default="", max_length=10_000)
    scenario: str = Field(default="", max_length=2_000)
    industry_code: str = Field(default="", max_length=3, pattern=r"^([A-T](\d{2})?)?$")
    division_code: str = Field(default="", max_length=6, pattern=r"^(\d{6})?$")
    budget_min: str = Field(default="", max_length=40)
    budget_max: str = Field(default="", max_length=40)
    deadline: date | None = None
    is_public: bool = True


class DemandResponseIn(_Strict):
    listing_id: int | None = Field(default=None, ge=1)
    planned_title: str = Field(default="", max_length=200)
    message: str = Field(default="", max_length=5_000)
    price: str = Field(default="", max_length=40)


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name_zh: str
    name_en: str
    kind: str
    price_fen: int | None
    delivery_modes: list[str]
    policy: dict[str, object]
    active: bool


class ListingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    registration_id: int
    org_id: int
    status: str
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    tags: list[str]
    industry_code: str
    division_code: str
    prefecture_code: str
    data_type: str
    licence: str
    update_frequency: str
    classification: str
    personal_info: str
    delivery_modes: list[str]
    min_price_fen: int | None
    views: int
    follower_count: int
    popularity: int
    version: int
    listed_at: datetime | None
    updated_at: datetime
    url: str = ""


class ListingDetailOut(ListingOut):
    plans: list[PlanOut]


class ChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    version: int
    at: datetime
    actor_label: str
    action: str
    from_status: str
    to_status: str
    changes: dict[str, object]
    reason: str


class LicenceOut(BaseModel):
    key: str
    title: str
    uri: str
    summary: str
    spdx: str


class FacetValueOut(BaseModel):
    value: str
    label: str
    count: int
    selected: bool


class SearchOut(BaseModel):
    total: int
    page: int
    per_page: int
    pages: int
    items: list[ListingOut]
    facets: dict[str, list[FacetValueOut]]
    # Always true since the search index counts facets exactly; kept for clients of the first API.
    facets_exact: bool = True


class DemandResponseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    org_id: int
    listing_id: int | None
    planned_title: str
    message: str
    price_fen: int | None
    status: str
    created_at: datetime


class DemandOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    buyer_org_id: int
    title: str
    description: str
    scenario: str
    industry_code: str
    division_code: str
    budget_min_fen: int | None
    budget_max_fen: int | None
    deadline: date | None
    is_public: bool
    status: str
    chosen_response_id: int | None
    created_at: datetime


class NotificationOut(BaseModel):
    id: int
    listing_id: int | None
    demand_id: int | None
    text: str
    created_at: datetime
    read: bool
