"""Tables of finance: pledges over certified data assets, their events, and the banks' limits.

Money is integer fen; rates and ratios are basis points (1 % = 100). A registration is referred
to by id and certificate number only: the registry's rows are read through its services.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qianshu.core.db import Base
from qianshu.core.timeutil import utcnow

# pending: registered by the bank, awaiting the holder's confirmation; active: confirmed (or
# recorded from an external registry); selling: on default, the asset is offered in a forced sale
# on the exchange (still encumbered); released: repaid; enforced: default recorded, the rights
# transferred to the bank, or the asset sold.
PLEDGE_STATUSES = ("pending", "active", "selling", "released", "enforced")
# Pledges that encumber the asset: a pending one reserves its share so that two banks cannot
# both take the same value while the holder has not confirmed yet.
OPEN_STATUSES = ("pending", "active", "selling")


class EncumberedAsset(Base):
    """One row per pledged registration: the row every pledge on it locks first, so that two
    banks pledging the same asset at once are serialised (one sees the other's pledge)."""

    __tablename__ = "finance_assets"

    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="RESTRICT"),
                                                 primary_key=True, autoincrement=False)
    certificate_number: Mapped[str] = mapped_column(String(20), unique=True)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Pledge(Base):
    __tablename__ = "finance_pledges"
    __table_args__ = (Index("ix_finance_pledges_registration_status", "registration_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("finance_assets.registration_id",
                                                            ondelete="RESTRICT"))
    certificate_number: Mapped[str] = mapped_column(String(20))
    pledgee_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    pledgor_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    secured_fen: Mapped[int] = mapped_column(BigInteger)
    # The value the loan-to-value is computed on: entered with the pledge until valuations exist.
    appraised_fen: Mapped[int] = mapped_column(BigInteger)
    # "valuation": the latest signed valuation's concluded value (``valuation_id``); "entered": the
    # bank's own figure, accepted only while the asset has no signed valuation.
    value_source: Mapped[str] = mapped_column(String(16), default="entered")
    valuation_id: Mapped[int | None] = mapped_column(ForeignKey("finance_valuations.id", ondelete="RESTRICT"))
    ltv_limit_bp: Mapped[int]
    interest_bp: Mapped[int]
    term_months: Mapped[int]
    starts_on: Mapped[date]
    matures_on: Mapped[date]
    risk_pool_bp: Mapped[int | None]
    product_category: Mapped[str] = mapped_column(String(3), default="")  # GB/T 4754 of the asset
    external_registry: Mapped[str] = mapped_column(String(100), default="")
    external_number: Mapped[str] = mapped_column(String(60), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str] = mapped_column(Text, default="")
    # An amendment one party proposed and the other has not yet agreed to: {"changes": {...},
    # "by_org_id": ..., "reason": ...}; empty when none is pending.
    proposed_amendment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")

    events: Mapped[list[PledgeEvent]] = relationship(back_populates="pledge", order_by="PledgeEvent.id",
                                                     cascade="all, delete-orphan")

    @property
    def ltv_bp(self) -> int:
        return self.secured_fen * 10_000 // self.appraised_fen if self.appraised_fen else 0


class PledgeEvent(Base):
    """One step of a pledge, with the leaf it became in the public log."""

    __tablename__ = "finance_pledge_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("finance_pledges.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    log_index: Mapped[int] = mapped_column(BigInteger)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    pledge: Mapped[Pledge] = relationship(back_populates="events")


class LtvLimit(Base):
    """A bank's loan-to-value limit for a product category (GB/T 4754 section letter or division;
    "" is the bank's default)."""

    __tablename__ = "finance_ltv_limits"
    __table_args__ = (UniqueConstraint("bank_org_id", "category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(3), default="")
    limit_bp: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)




VALUATION_STATUSES = ("draft", "signed")
APPROACHES = ("cost", "income", "market")


class AppraiserKey(Base):
    """An appraiser organisation's own Ed25519 key: its valuations are signed with it, never with
    the exchange's. The private key is PKCS#8 encrypted with a password derived from the
    deployment's secret (``secret_key``), so a database dump alone does not sign."""

    __tablename__ = "finance_appraiser_keys"

    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), primary_key=True,
                                        autoincrement=False)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    private_key_pem: Mapped[str] = mapped_column(Text)  # encrypted PKCS#8
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Valuation(Base):
    """A valuation worksheet of a certified asset by an appraiser organisation; once signed it is
    frozen, a leaf of the public log, and what a pledge's loan-to-value is computed on."""

    __tablename__ = "finance_valuations"
    __table_args__ = (Index("ix_finance_valuations_registration_status", "registration_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="RESTRICT"))
    certificate_number: Mapped[str] = mapped_column(String(20))
    appraiser_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="draft")
    # the information attributes the guidance requires (name, structure, dictionary, scale, ...)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # every figure typed
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # every approach's steps
    method: Mapped[str] = mapped_column(String(8), default="cost")  # the approach concluded on
    value_fen: Mapped[int | None] = mapped_column(BigInteger)
    market_fen: Mapped[int | None] = mapped_column(BigInteger)
    deviation_bp: Mapped[int | None]
    flagged: Mapped[bool] = mapped_column(default=False)  # far from the market approach
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    signed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    signed_at: Mapped[datetime | None]
    document: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what the signature covers
    signature: Mapped[str] = mapped_column(String(200), default="")
    key_id: Mapped[str] = mapped_column(String(64), default="")
    log_index: Mapped[int | None] = mapped_column(BigInteger)
    leaf_hash: Mapped[str] = mapped_column(String(64), default="")
    report_id: Mapped[int | None]  # the registry's appraisal report it is attached as
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- forced sale on default ------------------------------------------------------------------------

# listed: on offer (taking bids until ``closes_at`` for an auction); sold; withdrawn by the bank;
# unsold: an auction closed without a bid (the pledge is active again).
SALE_STATUSES = ("listed", "sold", "withdrawn", "unsold")
# leading: the best bid, its money in its escrow; outbid: a better bid came, the money went back;
# won: the best bid at closing, its escrow paid the fee, the bank and the holder.
BID_STATUSES = ("leading", "outbid", "won")


class ForcedSale(Base):
    """On default the pledgee offers the asset on the exchange: at a fixed price (the first buyer
    pays it) or, with a closing time, by auction (bids of at least the reserve ``price_fen``, each
    beating the best by ``step_fen``; the best bid at closing wins). The price is paid into escrow,
    the exchange keeps its fee, the bank is paid up to the debt (the secured amount and the interest
    accrued to the day of sale), the holder gets the rest, and the rights pass to the buyer through
    the registry's transfer."""

    __tablename__ = "finance_forced_sales"

    id: Mapped[int] = mapped_column(primary_key=True)
    # not unique: a withdrawn offer leaves the pledge active, and the bank may offer it again
    pledge_id: Mapped[int] = mapped_column(ForeignKey("finance_pledges.id", ondelete="RESTRICT"), index=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="RESTRICT"), index=True)
    certificate_number: Mapped[str] = mapped_column(String(20))
    pledgee_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    pledgor_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(12), default="listed")  # SALE_STATUSES
    price_fen: Mapped[int] = mapped_column(BigInteger)  # the fixed price, or an auction's reserve
    # An auction's closing time and minimum step between bids (None: a fixed-price offer).
    closes_at: Mapped[datetime | None] = mapped_column(index=True)
    step_fen: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text, default="")
    buyer_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    debt_fen: Mapped[int | None] = mapped_column(BigInteger)  # secured + interest, on the day of sale
    fee_fen: Mapped[int | None] = mapped_column(BigInteger)
    to_pledgee_fen: Mapped[int | None] = mapped_column(BigInteger)
    to_pledgor_fen: Mapped[int | None] = mapped_column(BigInteger)
    transfer_registration_id: Mapped[int | None]
    # The exchange contract that records the sale (migration 0035); unique: one sale, one contract.
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("exchange_contracts.id", ondelete="RESTRICT"),
                                                    unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    listed_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]


class SaleBid(Base):
    """A bid in a forced sale's auction: its money waits in an escrow account of its own
    (``escrow:<bidder>:forced-sale-<sale>-bid-<id>``) while it leads, and goes back when outbid."""

    __tablename__ = "finance_sale_bids"
    __table_args__ = (Index("ix_finance_sale_bids_sale_status", "sale_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("finance_forced_sales.id", ondelete="RESTRICT"))
    bidder_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default="leading")  # BID_STATUSES
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]  # when outbid or when it won


# --- the accounting pack ---------------------------------------------------------------------------

COST_CATEGORIES = ("acquisition", "collection", "processing", "storage", "labour", "rights", "quality",
                   "registration", "appraisal", "other")
INTENTS = ("own_use", "for_sale")


class AssetCost(Base):
    """A cost the holder entered for one of its registered data assets (what its books show)."""

    __tablename__ = "finance_asset_costs"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="RESTRICT"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    category: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    incurred_on: Mapped[date]
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccountingChoice(Base):
    """How the holder means to use an asset (own use or licensing → intangible asset; held for sale
    in its ordinary activities → inventory) and, for an intangible asset, its useful life."""

    __tablename__ = "finance_accounting_choices"

    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="RESTRICT"),
                                                 primary_key=True, autoincrement=False)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    intent: Mapped[str] = mapped_column(String(12), default="own_use")
    useful_life_months: Mapped[int] = mapped_column(default=60)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
