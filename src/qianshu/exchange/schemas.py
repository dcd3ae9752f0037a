"""Pydantic schemas of the exchange's API and forms (separate from the ORM models)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qianshu.catalog.schemas import DeliveryMode, Purpose
from qianshu.core.text import clean_text

MAX_SCENARIO = 2000
MAX_TERMS = 4000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_chars(cls, value: object) -> object:
        return clean_text(value) if isinstance(value, str) else value


class OrderIn(_Strict):
    listing_id: int = Field(ge=1)
    plan_id: int = Field(ge=1)
    purpose: Purpose = Field(description="What the data will be used for (checked against the plan's usage policy).")
    scenario: str = Field(min_length=10, max_length=MAX_SCENARIO,
                          description="The application scenario the data will serve, in the buyer's words.")
    delivery_mode: DeliveryMode | None = Field(default=None, description="One of the plan's; default its first.")
    negotiate: bool = Field(default=False, description="Ask for a quote even though the plan has a price.")
    message: str = Field(default="", max_length=2000)
    publish_price: bool = Field(default=False, description=(
        "Publish the price in the public log with the contract's signature (the seller agrees by accepting "
        "the order, both parties by signing the contract, whose text says so)."))


class QuoteIn(_Strict):
    price: str = Field(max_length=40, description="The price in yuan, e.g. '12000' or '0.05'.")
    terms: str = Field(default="", max_length=MAX_TERMS)
    expires_in_days: int | None = Field(default=None, ge=1, le=365)
    term_days: int | None = Field(default=None, ge=1, le=36500)


class ReasonIn(_Strict):
    reason: str = Field(default="", max_length=2000)


class SignIn(_Strict):
    text_sha256: str = Field(default="", max_length=64,
                             description="The SHA-256 of the contract text the signer read; refused if it changed.")


class ChangeIn(_Strict):
    kind: Literal["amend", "terminate"]
    price: str = Field(default="", max_length=40, description="New price in yuan (amendments).")
    term_days: int | None = Field(default=None, ge=1, le=36500)
    terms: str | None = Field(default=None, max_length=MAX_TERMS)
    reason: str = Field(min_length=1, max_length=2000)


class RenewalIn(_Strict):
    renews: bool


class RefundIn(_Strict):
    amount_fen: int = Field(description="How much of the escrowed price goes back to the buyer, in fen.")
    reason: str = Field(min_length=1, max_length=2000)
    period: int | None = Field(default=None, ge=1, le=100_000,
                               description="A renewed period of a subscription (2, 3 …); none or 1: the first.")


class PeriodIn(_Strict):
    period: int | None = Field(default=None, ge=1, le=100_000,
                               description="A renewed period of a subscription (2, 3 …); none or 1: the first.")


class DisputeIn(_Strict):
    reason: str = Field(min_length=1, max_length=2000)
    period: int | None = Field(default=None, ge=1, le=100_000,
                               description="A renewed period of a subscription (2, 3 …); none or 1: the first.")


class DecisionIn(_Strict):
    decision: Literal["release", "refund", "partial_refund"]
    reason: str = Field(min_length=1, max_length=2000)
    refund_fen: int = Field(default=0, description="With partial_refund: the fen that go back to the buyer.")


class DisputeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    contract_id: int
    raised_by_org_id: int
    reason: str
    status: str
    decision: str
    refund_fen: int
    decision_reason: str
    created_at: datetime
    decided_at: datetime | None
    period_number: int | None = None


class PeriodOut(BaseModel):
    """A renewed period of a subscription (number 2 …) and where its money is."""

    model_config = ConfigDict(from_attributes=True)

    number: int
    starts_at: datetime
    ends_at: datetime
    price_fen: int
    payment_status: str
    fee_fen: int
    refunded_fen: int
    paid_at: datetime
    delivered_at: datetime | None
    settled_at: datetime | None


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    listing_id: int | None  # None: an asset transfer by forced sale of an asset never listed
    plan_id: int | None  # None: an asset transfer by forced sale (plan_kind "forced_sale")
    buyer_org_id: int
    seller_org_id: int
    kind: str
    status: str
    plan_kind: str
    purpose: str
    scenario: str
    delivery_mode: str
    message: str
    price_fen: int | None
    terms: str
    term_days: int | None
    quote_expires_at: datetime | None
    reason: str
    created_at: datetime
    publish_price: bool = False
    contract_id: int | None = None


class SignatureOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    party: str
    org_id: int
    user_label: str
    via: str
    ip: str | None
    at: datetime
    text_version: int
    text_sha256: str
    log_index: int | None


class ContractOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    order_id: int
    listing_id: int | None  # None: an asset transfer by forced sale of an asset never listed
    plan_id: int | None  # None: an asset transfer by forced sale (plan_kind "forced_sale")
    buyer_org_id: int
    seller_org_id: int
    status: str
    plan_kind: str
    price_fen: int
    purpose: str
    delivery_mode: str
    term_days: int | None
    text_version: int
    text_sha256: str
    document: dict[str, Any]
    starts_at: datetime | None
    ends_at: datetime | None
    ended_at: datetime | None
    end_reason: str
    payment_status: str
    fee_fen: int
    refunded_fen: int
    paid_at: datetime | None
    delivered_at: datetime | None
    settled_at: datetime | None
    renews: bool
    signatures: list[SignatureOut]


class ChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    contract_id: int
    kind: str
    proposed_by_org_id: int
    changes: dict[str, Any]
    reason: str
    status: str
    created_at: datetime


class TimelineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    step: str
    actor_label: str
    actor_org_id: int | None
    detail: dict[str, Any]


class TradesOut(BaseModel):
    orders: list[OrderOut]
    contracts: list[ContractOut]


class RefundRequestIn(_Strict):
    amount_fen: int = Field(description="How much of what was paid (less earlier refunds) to ask back, in fen.")
    reason: str = Field(min_length=1, max_length=2000)
    period: int | None = Field(default=None, ge=1, le=100_000,
                               description="Ask back a renewed period's price (2, 3 …); none or 1: the price.")
    bill_id: int | None = Field(default=None, ge=1, description="Ask back (part of) a paid usage bill instead.")


class RefundAnswerIn(_Strict):
    accept: bool = Field(description="true: refund what was asked now; false: refuse (a reason is required).")
    reason: str = Field(default="", max_length=2000)


class RefundDecisionIn(_Strict):
    decision: Literal["grant", "reject"]
    reason: str = Field(min_length=1, max_length=2000)
    refund_fen: int | None = Field(default=None, description="With grant: the fen refunded (default what was asked).")


class RefundRequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    contract_id: int
    requested_by_org_id: int
    amount_fen: int
    reason: str
    status: str
    answer_reason: str
    answered_at: datetime | None
    escalated_at: datetime | None
    decision_reason: str
    decided_at: datetime | None
    refund_fen: int
    period_number: int | None = None
    bill_id: int | None = None
    created_at: datetime
    escalation_deadline: datetime | None = Field(
        default=None,
        description="Until when the buyer may take the seller's refusal to the exchange's operators "
                    "(POST /refund-requests/{id}/escalate): refund_escalation_days after the refusal, to the "
                    "minute, ISO 8601 with its zone. It stays once passed (the time then ended at it; an escalation "
                    "is a 409 refund_escalation_closed). null while the request is not refused: pending (it goes "
                    "to the operators by itself after refund_answer_days), escalated, accepted, granted, rejected.",
        examples=["2026-12-15T03:30:00Z"])

    @classmethod
    def of(cls, request: object, escalation_deadline: datetime | None) -> RefundRequestOut:
        """A stored request with the deadline the exchange's settings give it (``refunds.escalation_ends``)."""
        return cls.model_validate(request).model_copy(update={"escalation_deadline": escalation_deadline})


class BillOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    contract_id: int
    number: str
    plan_kind: str
    side: str
    period: str
    part: int
    units: int
    reports: int
    amount_fen: int
    fee_fen: int
    refunded_fen: int = 0
    status: str
    attempts: int
    created_at: datetime
    charged_at: datetime | None
    transfer_id: int | None


class UsageSoFarOut(BaseModel):
    """A month's usage received and not yet billed: the current month's running usage (0 before any
    report) and its estimated charge, or an ended month that the next billing run bills."""

    model_config = ConfigDict(from_attributes=True)

    contract_id: int
    plan_kind: str
    period: str
    units: int
    reports: int
    estimated_fen: int
    closed: bool
