"""Tables of vouchers: compute offerings, voucher programmes, applications, vouchers, orders paid
partly with vouchers, their settlement on metered usage, and the providers' reimbursement claims.

Money is integer fen; ratios are basis points (1 % = 100). A programme's budget lives on the
ledger (an account of the administrator, ``escrow:<org>:voucher-programme-<id>``); the columns
``committed_fen`` and ``reimbursed_fen`` are the programme's own running figures, kept under the
programme row's lock so that the remaining budget never goes below zero.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.core.db import Base
from qianshu.core.timeutil import utcnow

SERVICE_KINDS = ("training", "fine_tuning", "inference")
PROGRAMME_KINDS = ("compute", "model", "data")
PURPOSES = ("large_model_training", "industry_model_adaptation", "inference_service", "data_product")
COMPANY_SIZES = ("micro", "small", "medium", "large")
APPLICATION_STATUSES = ("pending", "approved", "rejected")
# paid: the company paid (vouchers applied, the rest in escrow); settled: usage reported, the bill
# settled on it.
ORDER_STATUSES = ("paid", "settled")
CLAIM_STATUSES = ("pending", "approved", "rejected")


class Offering(Base):
    """What a compute provider sells: a data centre's accelerators, by the card-hour."""

    __tablename__ = "voucher_offerings"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    data_centre: Mapped[str] = mapped_column(String(200))
    division_code: Mapped[str] = mapped_column(String(12))  # GB/T 2260, within Guizhou (52…)
    accelerator: Mapped[str] = mapped_column(String(100))
    card_count: Mapped[int]
    card_hours_per_month: Mapped[int] = mapped_column(BigInteger)
    price_fen_per_card_hour: Mapped[int] = mapped_column(BigInteger)
    service_kind: Mapped[str] = mapped_column(String(20))
    declared_tflops: Mapped[int] = mapped_column(BigInteger)  # the whole offering, in teraFLOPS
    precision: Mapped[str] = mapped_column(String(10))  # FP64 | FP32 | TF32 | FP16 | BF16 | FP8 | INT8
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Programme(Base):
    """A voucher programme run by a voucher administrator: its budget and all its rules."""

    __tablename__ = "voucher_programmes"
    __table_args__ = (
        CheckConstraint("committed_fen >= 0 AND committed_fen <= budget_fen", name="budget_not_exceeded"),
        CheckConstraint("ratio_bp >= 0 AND ratio_bp <= 10000", name="ratio_in_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    admin_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(10))
    budget_fen: Mapped[int] = mapped_column(BigInteger)
    committed_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # face value of vouchers issued (less lapsed)
    reimbursed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # The unspent budget returned to the administrator's wallet once the programme ended (0027).
    returned_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    closed_at: Mapped[datetime | None]
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    eligible_division: Mapped[str] = mapped_column(String(12), default="520000")
    eligible_sizes: Mapped[list[str]] = mapped_column(JSON, default=list)
    eligible_purposes: Mapped[list[str]] = mapped_column(JSON, default=list)
    excluded_org_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # as created; records: BrokenTrust
    ratio_bp: Mapped[int]
    cap_company_year_fen: Mapped[int] = mapped_column(BigInteger)
    cap_contract_fen: Mapped[int] = mapped_column(BigInteger)
    face_values_fen: Mapped[list[int]] = mapped_column(JSON, default=list)
    voucher_valid_days: Mapped[int]
    max_term_months: Mapped[int]
    one_voucher_per_contract: Mapped[bool] = mapped_column(default=False)
    require_payment_proof: Mapped[bool] = mapped_column(default=False)
    provider_org_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    budget_account_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_accounts.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    @property
    def remaining_fen(self) -> int:
        """What may still be issued: the budget less what vouchers hold or paid, less what went back."""
        return self.budget_fen - self.committed_fen - self.returned_fen


class RelatedParties(Base):
    """Two organisations an administrator marked related: no voucher of any of its programmes pays
    between them while the mark holds (``unmarked_at`` empty). Marks belong to the administering
    organisation, not to a programme (0037): ``programme_id`` is the programme whose page (or API)
    the mark was made through. Marking again after an unmarking adds a row, so the table keeps the
    history; the code keeps at most one mark in force per pair and administrator (under the lock of
    the administrator's programmes, ``trust.py``)."""

    __tablename__ = "voucher_related_parties"
    __table_args__ = (Index("ix_voucher_related_parties_admin", "admin_org_id", "org_a_id", "org_b_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    admin_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id", ondelete="CASCADE"))
    org_a_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))  # the smaller id
    org_b_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")  # why marked (0032)
    unmarked_at: Mapped[datetime | None]
    unmark_reason: Mapped[str] = mapped_column(Text, default="", server_default="")


class BrokenTrust(Base):
    """A broken-trust (失信) record of an organisation kept by a voucher administrator: while it holds
    (``lifted_at`` empty) the organisation may not apply to, nor be issued vouchers of, any of the
    administrator's programmes (0037; docs/vouchers.md says why the company, not the programme).
    ``programme_id`` is the programme the record was made through. Recording again after a lift adds
    a row (the history stays); at most one record is in force per organisation and administrator
    (the code's rule, under the lock of the administrator's programmes; rows migrated from several
    programmes may hold together and are lifted together)."""

    __tablename__ = "voucher_broken_trust"
    __table_args__ = (Index("ix_voucher_broken_trust_admin", "admin_org_id", "org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    admin_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(200), default="")  # e.g. 信用中国, a court's list
    reason: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    lifted_at: Mapped[datetime | None]
    lift_reason: Mapped[str] = mapped_column(Text, default="")


class Application(Base):
    __tablename__ = "voucher_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id", ondelete="RESTRICT"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    company_size: Mapped[str] = mapped_column(String(10))
    planned_use: Mapped[str] = mapped_column(Text)
    requested_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]


class Voucher(Base):
    __tablename__ = "vouchers"
    __table_args__ = (CheckConstraint("remaining_fen >= 0 AND remaining_fen <= face_fen", name="value_in_range"),
                      Index("ix_vouchers_holder", "holder_org_id", "programme_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id", ondelete="RESTRICT"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("voucher_applications.id", ondelete="RESTRICT"))
    holder_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    face_fen: Mapped[int] = mapped_column(BigInteger)
    remaining_fen: Mapped[int] = mapped_column(BigInteger)  # what may still be applied to an order
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_on: Mapped[date]
    lapsed_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # returned after expiry: back to the budget
    log_index: Mapped[int] = mapped_column(BigInteger)


class ComputeOrder(Base):
    """Compute bought from a provider (or, for a data voucher, an exchange contract), paid partly
    with vouchers. ``subject`` is what was subsidised: one programme subsidises it at most once."""

    __tablename__ = "voucher_orders"
    __table_args__ = (UniqueConstraint("subject", name="uq_voucher_orders_subject"),
                      CheckConstraint("voucher_fen + cash_fen = total_fen", name="paid_in_full"))

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id", ondelete="RESTRICT"), index=True)
    offering_id: Mapped[int | None] = mapped_column(ForeignKey("voucher_offerings.id", ondelete="RESTRICT"),
                                                    index=True)
    provider_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    company_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    subject: Mapped[str] = mapped_column(String(60))  # "compute:<uuid>" or "contract:<id>"
    purpose: Mapped[str] = mapped_column(String(40))
    month: Mapped[str] = mapped_column(String(7))  # the Asia/Shanghai month the card-hours are for
    term_months: Mapped[int]
    card_hours: Mapped[int] = mapped_column(BigInteger)
    price_fen_per_card_hour: Mapped[int] = mapped_column(BigInteger)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    voucher_fen: Mapped[int] = mapped_column(BigInteger)
    cash_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default="paid")
    used_card_hours: Mapped[int | None] = mapped_column(BigInteger)
    settled_total_fen: Mapped[int | None] = mapped_column(BigInteger)
    settled_voucher_fen: Mapped[int | None] = mapped_column(BigInteger)
    evidence_digest: Mapped[str] = mapped_column(String(64), default="")
    evidence_name: Mapped[str] = mapped_column(String(200), default="")
    city_code: Mapped[str] = mapped_column(String(6), default="")  # the data centre's prefecture
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None]
    log_index: Mapped[int] = mapped_column(BigInteger)
    # Of a contract's subsidy: what went back to the programme when the exchange refunded the contract.
    returned_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class VoucherUse(Base):
    """How much of one voucher an order applied, and how much of it the settlement kept."""

    __tablename__ = "voucher_uses"
    __table_args__ = (UniqueConstraint("order_id", "voucher_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("voucher_orders.id", ondelete="CASCADE"), index=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id", ondelete="RESTRICT"), index=True)
    applied_fen: Mapped[int] = mapped_column(BigInteger)
    settled_fen: Mapped[int | None] = mapped_column(BigInteger)


class Reimbursement(Base):
    """A provider's claim on the programme for the voucher part of a settled order (one per order)."""

    __tablename__ = "voucher_reimbursements"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("voucher_orders.id", ondelete="RESTRICT"), unique=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id", ondelete="RESTRICT"), index=True)
    provider_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    invoice_number: Mapped[str] = mapped_column(String(60))
    delivery_digest: Mapped[str] = mapped_column(String(64))
    payment_proof_digest: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    log_index: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
