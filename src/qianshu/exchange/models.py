"""Tables of the exchange: orders, contracts, their signatures, changes and timeline.

``exchange_orders``             a buyer's order of a plan, or a request for a quote, and the answer
``exchange_contracts``          what an accepted order becomes: the frozen terms and their hash
``exchange_signatures``         who accepted which version of a contract, when, from where
``exchange_contract_changes``   proposed amendments and early terminations, and their outcome
``exchange_timeline``           every step of an order and its contract, for "my trades"
``exchange_refund_requests``    a buyer's request for a refund after settlement, and its answer
``exchange_contract_periods``   the renewed periods of a subscription (2, 3 …), each with its own escrow

Money is not kept here: the ledger books every payment, escrow and settlement.

Order status::

    (fixed price) placed ──seller accepts──▶ accepted (a contract exists)
    (quote)    requested ──seller quotes──▶ quoted ──buyer accepts before expiry──▶ accepted
    placed / requested / quoted ──seller refuses──▶ refused     ──buyer withdraws──▶ withdrawn
    quoted ──expiry passes──▶ expired

Contract status::

    pending (signatures) ──both parties sign──▶ active ──term ends──▶ ended
    pending ──either party declines──▶ declined
    active ──both agree, or the operator──▶ terminated
    (asset transfer by forced sale) ──recorded settled──▶ completed

Payment status of a prepaid contract (one-time, monthly, yearly, quoted)::

    unpaid ──buyer pays (wallet → escrow)──▶ escrowed ──seller delivers──▶ delivered
    delivered ──buyer accepts, or after auto_accept_days──▶ settled (escrow → seller and fee)
    escrowed / delivered ──either party disputes──▶ disputed ──operator decides──▶ settled / refunded
    escrowed / delivered ──seller refunds all──▶ refunded     (a partial refund keeps the status)
    settled ──seller or operator refunds all (seller's wallet and fee account → buyer)──▶ refunded

Refund request after settlement (``exchange_refund_requests``)::

    pending ──seller accepts──▶ accepted (refund: seller's wallet and fee account → buyer)
    pending ──seller refuses, with a reason──▶ refused
    pending ──unanswered after refund_answer_days──▶ escalated
    refused ──buyer escalates, within refund_escalation_days of the refusal──▶ escalated
    escalated ──operator decides, with a reason──▶ granted (all or part refunded) / rejected

Metered contracts (per call, per 1,000 rows) gather usage reports (``exchange_usage_reports``) into
one bill per period (``exchange_usage_bills``), charged once the period has ended.
A settled subscription (monthly, yearly) renews a day before its term ends: the next period's price
goes from the buyer's wallet into that period's escrow (``exchange_contract_periods``), and the
period is delivered, accepted (or accepted by itself), disputed, settled and refunded as the first
period is; or it lapses with a notice when the wallet is short or the policy's term is reached.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qianshu.core.db import Base
from qianshu.core.timeutil import utcnow

PAYMENT_STATUSES = ("unpaid", "escrowed", "delivered", "disputed", "settled", "refunded")
DISPUTE_DECISIONS = ("release", "refund", "partial_refund")
ORDER_STATUSES = ("placed", "requested", "quoted", "accepted", "refused", "withdrawn", "expired")
OPEN_ORDER_STATUSES = ("placed", "requested", "quoted")
CONTRACT_STATUSES = ("pending", "active", "ended", "declined", "terminated", "completed")
# The plan kind, purpose and delivery mode of a contract that records the transfer of a data asset
# by a forced sale (finance's pledge enforcement; ``exchange/transfers.py``): it names no catalogue
# plan (``plan_id`` NULL), is ``completed`` and ``settled`` when recorded, and moves no money.
ASSET_TRANSFER, TRANSFER_PURPOSE, TRANSFER_MODE = "forced_sale", "asset_transfer", "transfer"


def _listed(listing_id: int | None, what: str) -> int:
    if listing_id is None:  # only an asset transfer by forced sale lacks one, and it reaches no such path
        raise LookupError(f"{what} names no listing: an asset transfer by forced sale")
    return listing_id


class Order(Base):
    __tablename__ = "exchange_orders"
    __table_args__ = (
        Index("ix_exchange_orders_buyer_status", "buyer_org_id", "status"),
        Index("ix_exchange_orders_seller_status", "seller_org_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # NULL only for an asset transfer by forced sale: no plan, and no listing if the asset had none (0035).
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_listings.id", ondelete="RESTRICT"),
                                                   index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_plans.id", ondelete="RESTRICT"))
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    seller_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(8))  # order | quote
    status: Mapped[str] = mapped_column(String(12))
    plan_kind: Mapped[str] = mapped_column(String(24))
    purpose: Mapped[str] = mapped_column(String(32))  # a key of catalog.policy.PURPOSES
    scenario: Mapped[str] = mapped_column(Text)  # the application scenario, in the buyer's words
    delivery_mode: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")  # the buyer's note to the seller
    # The price the contract will carry: the plan's for an order, the seller's answer for a quote.
    price_fen: Mapped[int | None] = mapped_column(BigInteger)
    terms: Mapped[str] = mapped_column(Text, default="")  # the seller's terms with a quote
    term_days: Mapped[int | None]  # how long the contract runs (None: no limit)
    quote_expires_at: Mapped[datetime | None]
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    answered_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(Text, default="")  # why refused or withdrawn
    # The buyer proposes to publish the price in the public log; the seller agrees by accepting the
    # order (or quoting), and both by signing the text, which then says so (migration 0029).
    publish_price: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The bank that enforced its pledge by the forced sale this order records (an asset transfer
    # only, else NULL): the policy's ``pledgee`` of the trade, which may read it (0039).
    pledgee_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    contract: Mapped[Contract | None] = relationship(back_populates="order", uselist=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative idiom

    @property
    def contract_id(self) -> int | None:
        return self.contract.id if self.contract is not None else None

    @property
    def catalogue_listing_id(self) -> int:
        """The listing of an order of a catalogue plan (every order but an asset transfer's)."""
        return _listed(self.listing_id, f"order {self.id}")


class Contract(Base):
    __tablename__ = "exchange_contracts"
    __table_args__ = (
        Index("ix_exchange_contracts_buyer_status", "buyer_org_id", "status"),
        Index("ix_exchange_contracts_seller_status", "seller_org_id", "status"),
        Index("ix_exchange_contracts_status_ends", "status", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("exchange_orders.id", ondelete="RESTRICT"), unique=True)
    # NULL only for an asset transfer by forced sale (``ASSET_TRANSFER``), as on its order (0035).
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_listings.id", ondelete="RESTRICT"),
                                                   index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_plans.id", ondelete="RESTRICT"))
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    seller_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    plan_kind: Mapped[str] = mapped_column(String(24))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(32))
    delivery_mode: Mapped[str] = mapped_column(String(16))
    term_days: Mapped[int | None]
    # The exact contract text (a JSON document) whose RFC 8785 canonical form both parties sign.
    document: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    text_sha256: Mapped[str] = mapped_column(String(64))
    text_version: Mapped[int] = mapped_column(default=1)  # raised by every amendment
    starts_at: Mapped[datetime | None]  # when both parties have signed
    ends_at: Mapped[datetime | None]  # starts_at + term (None: no limit)
    ended_at: Mapped[datetime | None]  # when it ended, expired, was declined or terminated
    end_reason: Mapped[str] = mapped_column(Text, default="")
    # Where the money is (the amounts are the ledger's: its transfers name this contract as cause).
    payment_status: Mapped[str] = mapped_column(String(12), default="unpaid", server_default="unpaid")
    fee_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # booked at settlement
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The part of the price a voucher programme pays the seller on its claim (not escrowed; 0027).
    subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    paid_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]
    # A subscription (monthly, yearly) renews each period with a new charge until the buyer stops it.
    renews: Mapped[bool] = mapped_column(default=True, server_default=true())
    # As on its order: the bank whose forced sale the contract records, which may read it (0039).
    pledgee_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    order: Mapped[Order] = relationship(back_populates="contract")
    signatures: Mapped[list[Signature]] = relationship(order_by="Signature.id", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative idiom

    @property
    def catalogue_listing_id(self) -> int:
        """The listing of a contract of a catalogue plan (delivery, fees, product counters): every
        contract but an asset transfer's, which none of those paths reach."""
        return _listed(self.listing_id, f"contract {self.number}")


class Signature(Base):
    """One party's acceptance of one version of a contract's text."""

    __tablename__ = "exchange_signatures"
    __table_args__ = (UniqueConstraint("contract_id", "text_version", "party"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("exchange_contracts.id", ondelete="CASCADE"))
    text_version: Mapped[int]
    party: Mapped[str] = mapped_column(String(8))  # buyer | seller
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    user_label: Mapped[str] = mapped_column(String(200), default="")
    via: Mapped[str] = mapped_column(String(20))
    ip: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    text_sha256: Mapped[str] = mapped_column(String(64))
    log_index: Mapped[int | None] = mapped_column(BigInteger)  # the public-log leaf, once both signed


class ContractChange(Base):
    """A proposed amendment (new price, term or terms) or early termination."""

    __tablename__ = "exchange_contract_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("exchange_contracts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # amend | terminate
    proposed_by_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    proposed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="proposed")  # proposed | agreed | rejected
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TimelineEntry(Base):
    __tablename__ = "exchange_timeline"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("exchange_orders.id", ondelete="CASCADE"), index=True)
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("exchange_contracts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    step: Mapped[str] = mapped_column(String(40))  # a key of exchange.labels.STEPS
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Dispute(Base):
    """A dispute over a paid contract: raised by either party, decided by an operator with a reason."""

    __tablename__ = "exchange_disputes"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("exchange_contracts.id", ondelete="CASCADE"), index=True)
    raised_by_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    raised_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | decided
    decision: Mapped[str] = mapped_column(String(16), default="")  # see DISPUTE_DECISIONS
    refund_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A renewed period's number (2, 3 …; ``ContractPeriod``) when the dispute is over that period's
    # price; NULL: over the contract's price (its first period). Migration 0033.
    period_number: Mapped[int | None]


class ContractPeriod(Base):
    """A renewed period of a subscription (number 2, 3 …; the first is the contract's own payment):
    its price went from the buyer's wallet into its own escrow account when it was renewed, and it
    moves through ``payment_status`` as the first period does (escrowed → delivered → settled,
    disputed, refunded), by conditional UPDATEs on this row."""

    __tablename__ = "exchange_contract_periods"
    __table_args__ = (UniqueConstraint("contract_id", "number"),
                      Index("ix_exchange_contract_periods_status", "payment_status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("exchange_contracts.id", ondelete="RESTRICT"))
    number: Mapped[int]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    price_fen: Mapped[int] = mapped_column(BigInteger)
    payment_status: Mapped[str] = mapped_column(String(12), default="escrowed")
    fee_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # booked at settlement, less fee refunded
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)


class UsageReport(Base):
    """Metered usage of a per-call or per-1,000-rows contract, received once per report id and
    charged on its period's bill (``UsageBill``). ``amount_fen`` is what the report adds at the
    plan's price (a part of a fen rounded up); the bill prices the period's units together."""

    __tablename__ = "exchange_usage_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[str] = mapped_column(String(100), unique=True)  # given by the reporter (delivery)
    contract_id: Mapped[int] = mapped_column(ForeignKey("exchange_contracts.id", ondelete="RESTRICT"), index=True)
    units: Mapped[int] = mapped_column(BigInteger)  # calls, or rows
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    fee_fen: Mapped[int] = mapped_column(BigInteger)
    transfer_batch: Mapped[str] = mapped_column(String(40), default="")  # the ledger batch that charged it
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The billing period (an Asia/Shanghai month, "2026-11") and its bill once the period is billed.
    # Reports received before bills existed (migration 0020) were charged one by one: no period.
    period: Mapped[str | None] = mapped_column(String(7))
    bill_id: Mapped[int | None] = mapped_column(ForeignKey("exchange_usage_bills.id", ondelete="RESTRICT"),
                                                index=True)


class UsageBill(Base):
    """One charge for a metered contract's usage in one period (an Asia/Shanghai month): the sum
    of its reports' units at the plan's price, buyer's wallet → seller's wallet and the fee.
    ``part`` 2, 3 … bill reports that arrived after their period was billed. ``unpaid``: the
    wallet was short; the periodic task tries again at each run."""

    __tablename__ = "exchange_usage_bills"
    __table_args__ = (UniqueConstraint("contract_id", "period", "part"),
                      Index("ix_exchange_usage_bills_status", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("exchange_contracts.id", ondelete="RESTRICT"))
    period: Mapped[str] = mapped_column(String(7))
    part: Mapped[int] = mapped_column(default=1)
    units: Mapped[int] = mapped_column(BigInteger)
    reports: Mapped[int] = mapped_column(default=0)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    fee_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default="unpaid")  # unpaid | charged
    transfer_batch: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    charged_at: Mapped[datetime | None]
    # How many times it was tried (0 before the first try), and when last: 1 and unpaid is "short",
    # more than one "retrying" (the bills page, migration 0029).
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_tried_at: Mapped[datetime | None]
    # What a refund request after the charge gave back (migration 0033); ``fee_fen`` falls by the
    # fee's share of it.
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


REFUND_REQUEST_STATUSES = ("pending", "escalated", "accepted", "refused", "granted", "rejected")
OPEN_REFUND_REQUEST = ("pending", "escalated")


class RefundRequest(Base):
    """A buyer's request for (part of) its money back after settlement. The seller accepts or
    refuses it; unanswered or refused, it goes to an operator, as a dispute does. An accepted or
    granted request is paid by ``payments.refund_settled`` (seller's wallet and the fee account)."""

    __tablename__ = "exchange_refund_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("exchange_contracts.id", ondelete="CASCADE"), index=True)
    # The contract's id while the request is open (pending, escalated), else NULL.
    open_contract_id: Mapped[int | None]
    # While open: the item it asks back, "<contract id>:period-1", ":period-2", ":bill-17"; else NULL.
    # One open request per item, held by the database itself (of two asked at once, the second gets
    # a 409); requests of different items of one contract may be open together (migration 0036).
    open_item: Mapped[str | None] = mapped_column(String(40), unique=True)
    requested_by_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # what the buyer asks for
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # see REFUND_REQUEST_STATUSES
    answer_reason: Mapped[str] = mapped_column(Text, default="")  # the seller's, when refusing
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    answered_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    decision_reason: Mapped[str] = mapped_column(Text, default="")  # the operator's
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    refund_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # what was refunded in the end
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What is asked back (migration 0033): a renewed period's price (its number, 2 …), a paid usage
    # bill, or (both NULL) the contract's price.
    period_number: Mapped[int | None]
    bill_id: Mapped[int | None] = mapped_column(ForeignKey("exchange_usage_bills.id", ondelete="RESTRICT"))
