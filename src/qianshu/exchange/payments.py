"""The money of a contract, on the ledger's books: pay into escrow, deliver, accept, settle with the
exchange's fee, refund, dispute; and metered usage charged per report.

Nothing here keeps money: every amount moves by a ledger transfer whose cause is
``("contract", id)``, so a contract's money trail is ``ledger.transfers_by_cause``. What this module
keeps is where the contract stands (``payment_status``), moved by conditional UPDATEs: of two
settlements of one contract at once, exactly one finds it ``delivered`` and settles it; the other
gets a 409 and moves nothing. The ledger's ``unique_ref`` of each move (``pay:contract:7``,
``settle:contract:7``) guards the same a second time. The steps after payment are
``escrow.py``'s, shared with the renewed periods of subscriptions (``renewals.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import N_, Label
from qianshu.core.money import MAX_FEN
from qianshu.core.timeutil import SHANGHAI, as_utc, utcnow
from qianshu.exchange import escrow
from qianshu.exchange.contracts import contract_is_active
from qianshu.exchange.escrow import CAUSE, Held, escrowed_of, fee_rate, move_contract
from qianshu.exchange.escrow import fee_of as fee_of  # re-exported: finance's sale books its fee with it
from qianshu.exchange.escrow import fee_share as fee_share  # re-exported: its name before escrow.py
from qianshu.exchange.models import Contract, Dispute, TimelineEntry, UsageBill, UsageReport
from qianshu.exchange.service import (
    METERED_KINDS,
    NO_CONTRACT,
    PREPAID_KINDS,
    load_contract,
    notify_party,
    record_step,
    require_role,
)
from qianshu.exchange.settings import ExchangeSettings
from qianshu.ledger import service as ledger


def _escrow(db: Session, contract: Contract, *, opening: bool = False) -> int:
    return Held(contract).escrow(db, opening=opening)


_move = move_contract


def lock_contract(db: Session, contract_id: int) -> Contract:
    """The contract, its row locked for the rest of the transaction (PostgreSQL; SQLite has one
    writer): a step of another capability that moves money about the contract (a voucher
    programme paying its subsidy) queues behind a refund, as the exchange's own steps do."""
    contract = db.get(Contract, contract_id, with_for_update=True, populate_existing=True)
    if contract is None:
        raise NotFound(NO_CONTRACT)
    return contract


def authorise(db: Session, actor: Actor, action: str, *, contract_id: int | None = None,
              dispute_id: int | None = None) -> Contract:
    """Refuse who may not do ``action`` before anything else is looked at (the API checks this
    before the Idempotency-Key, so a stranger learns nothing from the key's handling). Returns the
    contract: a route that holds on to it keeps it in the session's identity map (which holds
    objects weakly), so the step that follows finds it there instead of reading it again."""
    if dispute_id is not None:
        dispute = db.get(Dispute, dispute_id)
        if dispute is None:
            raise NotFound("Not found.")
        contract_id = dispute.contract_id
    contract = load_contract(db, contract_id or 0)
    require_role(actor, action, contract, NO_CONTRACT)
    return contract


def pay(db: Session, actor: Actor, contract_id: int, at: datetime | None = None, *, subsidy_fen: int = 0) -> Contract:
    """The buyer pays the price from its wallet into the contract's escrow. ``at`` (here and in
    the other steps) is the clock's time, now by default (the demo's history passes its own).
    ``subsidy_fen``: the part a voucher programme pays the seller itself, on the seller's claim
    (vouchers' data vouchers); the buyer escrows the price less it, and escrow, settlement, fee and
    refunds work on what was escrowed."""
    now = at or utcnow()
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.pay", contract, NO_CONTRACT)
    if contract.status != "active":
        raise Conflict("Contract {number} is not in force; it cannot be paid.", number=contract.number)
    if contract.plan_kind not in PREPAID_KINDS or contract.price_fen <= 0:
        raise Conflict("Contract {number} has nothing to pay in advance (free or billed from usage).",
                       number=contract.number)
    if isinstance(subsidy_fen, bool) or not 0 <= subsidy_fen < contract.price_fen:
        raise InvalidInput("{field} must be at most {max}.", field="subsidy_fen", max=contract.price_fen - 1)
    _move(db, contract, ("unpaid",), "escrowed", at=now, paid_at=now, subsidy_fen=subsidy_fen)
    ledger.transfer(db, actor, debit=ledger.wallet_id(db, contract.buyer_org_id),
                    credit=_escrow(db, contract, opening=True), amount_fen=contract.price_fen - subsidy_fen,
                    kind="escrow", cause=(CAUSE, contract.id),
                    memo=contract.number, unique_ref=f"pay:contract:{contract.id}", at=now)
    record_step(db, actor, contract.order, "paid", contract, at=now, amount_fen=contract.price_fen)
    notify_party(db, contract.seller_org_id, N_("Contract {number} is paid into escrow: deliver the data."),
                 contract.order, contract)
    return contract


def deliver(db: Session, actor: Actor, contract_id: int, at: datetime | None = None) -> Contract:
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.deliver", contract, NO_CONTRACT)
    escrow.deliver(db, actor, Held(contract), at)
    return contract


def accept_delivery(db: Session, actor: Actor, contract_id: int, settings: ExchangeSettings | None = None,
                    at: datetime | None = None, last: list[Callable[[], None]] | None = None) -> Contract:
    """The buyer accepts the delivery: the contract settles (seller paid, fee booked; ``last``:
    as ``escrow.settle``'s)."""
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.accept_delivery", contract, NO_CONTRACT)
    _settle(db, actor, contract, settings or ExchangeSettings(), "delivery_accepted", at=at, last=last)
    return contract


def _settle(db: Session, actor: Actor, contract: Contract, settings: ExchangeSettings, step: str,
            allowed: tuple[str, ...] = ("delivered",), at: datetime | None = None,
            last: list[Callable[[], None]] | None = None) -> None:
    """Pay the seller and the fee out of escrow (``escrow.settle``: the order of its writes is
    chosen for concurrency)."""
    escrow.settle(db, actor, Held(contract), settings, step, allowed, at, last)


def auto_accept_due(db: Session, settings: ExchangeSettings) -> int:
    """Settle contracts delivered ``auto_accept_days`` ago that the buyer neither accepted nor disputed."""
    due = utcnow() - timedelta(days=settings.auto_accept_days)
    ids = list(db.scalars(select(Contract.id).where(Contract.payment_status == "delivered",
                                                    Contract.delivered_at <= due).order_by(Contract.id).limit(200)))
    settled = 0
    for contract_id in ids:
        try:
            with db.begin_nested():
                _settle(db, SYSTEM, load_contract(db, contract_id), settings, "accepted_automatically")
            settled += 1
        except Conflict:  # disputed or accepted meanwhile: that outcome stands, nothing moved here
            continue
    return settled


def checked_amount(value: object, held: int) -> int:
    """A refund's amount in fen: a whole number from 1 to ``held`` (422 naming ``amount_fen``)."""
    amount = ledger.parse_amount(value, "amount_fen")
    if amount > held:
        raise InvalidInput("{field} must be at most {max}.", field="amount_fen", max=held)
    return amount


def refund(db: Session, actor: Actor, contract_id: int, amount_fen: object, reason: str,
           at: datetime | None = None) -> Contract:
    """The seller (or an operator) returns all or part of the price to the buyer: out of escrow
    before settlement; after it, out of the seller's wallet and the exchange's fee account
    (``refund_settled``)."""
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.refund", contract, NO_CONTRACT)
    if not reason.strip():
        raise InvalidInput("{field} is required.", field="reason")
    if contract.payment_status == "settled":
        refund_settled(db, actor, contract, checked_amount(amount_fen, escrowed_of(contract)), reason,
                       at)
        return contract
    if contract.payment_status not in ("escrowed", "delivered"):
        raise Conflict("Contract {number} is {status}; this cannot be done now.", number=contract.number,
                       status=Label("payment status", contract.payment_status))
    _refund(db, actor, contract, checked_amount(amount_fen, escrowed_of(contract)), reason,
            ("escrowed", "delivered"), at)
    return contract


def refund_settled(db: Session, actor: Actor, contract: Contract, amount: int, reason: str,
                   at: datetime | None = None) -> None:
    """A refund of the settled price (the seller agreeing, or an operator deciding): the seller's
    wallet and the fee's share back to the buyer (``escrow.refund_settled``)."""
    escrow.refund_settled(db, actor, Held(contract), amount, reason, at)


def _refund(db: Session, actor: Actor, contract: Contract, amount: int, reason: str,
            allowed: tuple[str, ...], at: datetime | None = None) -> None:
    escrow.refund_escrowed(db, actor, Held(contract), amount, reason, allowed, at)


def raise_dispute(db: Session, actor: Actor, contract_id: int, reason: str, at: datetime | None = None) -> Dispute:
    """Either party disputes a paid contract: settlement waits for an operator's decision."""
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.dispute", contract, NO_CONTRACT)
    return escrow.dispute(db, actor, Held(contract), reason, at)


def decide_dispute(db: Session, actor: Actor, dispute_id: int, decision: str, reason: str,
                   refund_fen: object = 0, settings: ExchangeSettings | None = None,
                   at: datetime | None = None) -> Dispute:
    """An operator decides: ``release`` (the seller is paid), ``refund`` (all back to the buyer) or
    ``partial_refund`` (``refund_fen`` back, the rest settles), always with a written reason."""
    dispute = db.get(Dispute, dispute_id)
    if dispute is None:
        raise NotFound("Not found.")
    if dispute.period_number is not None:  # over a renewed period: decided the same way, on its escrow
        from qianshu.exchange import renewals

        return renewals.decide_period_dispute(db, actor, dispute, decision, reason, refund_fen, settings, at)
    contract = decidable(db, actor, dispute, reason)
    amount = dispute_refund(decision, refund_fen, escrowed_of(contract))
    escrow.decide(db, actor, Held(contract), dispute, amount, decision, reason, settings or ExchangeSettings(), at)
    return dispute


def decidable(db: Session, actor: Actor, dispute: Dispute, reason: str) -> Contract:
    """The disputed contract, once the actor may decide ``dispute`` now and gave a reason."""
    contract = load_contract(db, dispute.contract_id)
    require_role(actor, "contract.decide_dispute", contract, NO_CONTRACT)
    if dispute.status != "open":
        raise Conflict("This dispute was decided already.")
    if not reason.strip():
        raise InvalidInput("{field} is required.", field="reason")
    return contract


def dispute_refund(decision: str, refund_fen: object, held: int) -> int:
    """What a dispute's decision gives back of ``held``: nothing (``release``), all (``refund``) or
    ``refund_fen`` (``partial_refund``)."""
    if decision == "release":
        return 0
    if decision == "refund":
        return held
    if decision == "partial_refund":
        return checked_amount(refund_fen, held)
    raise InvalidInput("{field} must be one of: {expected}.", field="decision",
                       expected="release, refund, partial_refund")


def open_dispute(db: Session, contract: Contract) -> Dispute | None:
    """The open dispute over the contract's price (its first period); a renewed period's are
    ``renewals.open_disputes``."""
    return db.scalar(select(Dispute).where(Dispute.contract_id == contract.id, Dispute.status == "open",
                                           Dispute.period_number.is_(None)))


def record_usage(db: Session, actor: Actor, contract_id: int, report_id: str, units: int,
                 settings: ExchangeSettings | None = None, at: datetime | None = None) -> UsageReport:
    """Metered usage of a per-call or per-1,000-rows contract, received for the period (the
    Asia/Shanghai month) it arrives in; the period's reports are charged together on one bill
    (``bill_usage_due``, after the period ends). Idempotent per ``report_id``: the same report
    again returns the first; the same id with other figures is a 409."""
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.meter", contract, NO_CONTRACT)
    report_id = str(report_id).strip()
    if not report_id or len(report_id) > 100:
        raise InvalidInput("{field} is required.", field="report_id")
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise InvalidInput("{field} must be at least {min}.", field="units", min=1)
    if units > MAX_FEN:  # units times the price must stay within what the books hold
        raise InvalidInput("{field} must be at most {max}.", field="units", max=MAX_FEN)
    existing = db.scalar(select(UsageReport).where(UsageReport.report_id == report_id))
    if existing is not None:
        return _same_report(existing, contract, units)
    if contract.plan_kind not in METERED_KINDS:
        raise Conflict("Contract {number} is not billed from usage.", number=contract.number)
    now = at or utcnow()
    if not contract_is_active(db, contract.id, contract.delivery_mode, now):
        raise Conflict("Contract {number} is not in force; it cannot be paid.", number=contract.number)
    report = UsageReport(report_id=report_id, contract_id=contract.id, units=units,
                         amount_fen=usage_price(contract, units), fee_fen=0, reported_at=now,
                         period=billing_period(now))
    try:
        with db.begin_nested():
            db.add(report)
            db.flush()
    except IntegrityError:  # the same report received at that moment by another transaction
        first = db.scalar(select(UsageReport).where(UsageReport.report_id == report_id))
        if first is None:
            raise
        return _same_report(first, contract, units)
    record_step(db, actor, contract.order, "usage_reported", contract, at=now, units=units, report=report_id,
                period=report.period)
    return report


def _same_report(existing: UsageReport, contract: Contract, units: int) -> UsageReport:
    if (existing.contract_id, existing.units) != (contract.id, units):
        raise Conflict("{field}: {reason}", field="report_id",
                       reason="this usage report was received before with other figures")
    return existing


def billing_period(moment: datetime) -> str:
    """The billing period of a moment: its Asia/Shanghai month, "2026-11"."""
    return as_utc(moment).astimezone(SHANGHAI).strftime("%Y-%m")


def usage_price(contract: Contract, units: int) -> int:
    """What ``units`` cost at the contract's price: per call, or per 1,000 rows pro rata (a part of a
    fen rounded up) — a report's figure, a bill's amount and the running estimate alike."""
    per = 1 if contract.plan_kind == "per_call" else 1000
    return (contract.price_fen * units + per - 1) // per  # pro rata, a part of a fen rounded up


def bill_usage_due(db: Session, settings: ExchangeSettings, now: datetime | None = None) -> tuple[int, int]:
    """One bill per metered contract and ended period: the period's unbilled reports priced
    together, charged buyer's wallet → seller's wallet and the fee (``unique_ref``
    ``usage-bill:<contract>:<period>:<part>``, so a bill is charged once). A wallet too short
    leaves the bill ``unpaid`` (both parties are told once) and the next run tries again.
    Returns (charged, unpaid)."""
    current = billing_period(now or utcnow())
    groups = db.execute(select(UsageReport.contract_id, UsageReport.period).where(
        UsageReport.bill_id.is_(None), UsageReport.period.is_not(None), UsageReport.period < current)
        .group_by(UsageReport.contract_id, UsageReport.period).order_by(UsageReport.contract_id).limit(200)).all()
    for contract_id, period in groups:
        _make_bill(db, load_contract(db, contract_id), str(period), settings, now)
    charged = unpaid = 0
    for bill in db.scalars(select(UsageBill).where(UsageBill.status == "unpaid").order_by(UsageBill.id).limit(200)):
        if _charge_bill(db, bill, now):
            charged += 1
        else:
            unpaid += 1
    return charged, unpaid


def _make_bill(db: Session, contract: Contract, period: str, settings: ExchangeSettings,
               now: datetime | None) -> UsageBill:
    reports = list(db.scalars(select(UsageReport).where(UsageReport.contract_id == contract.id,
                                                        UsageReport.period == period,
                                                        UsageReport.bill_id.is_(None))
                              .with_for_update()))
    part = 1 + int(db.scalar(select(func.count(UsageBill.id)).where(UsageBill.contract_id == contract.id,
                                                                   UsageBill.period == period)) or 0)
    units = sum(r.units for r in reports)
    amount = usage_price(contract, units)
    bill = UsageBill(contract_id=contract.id, period=period, part=part, units=units, reports=len(reports),
                     amount_fen=amount, fee_fen=fee_of(amount, fee_rate(db, contract, settings)), status="unpaid",
                     created_at=now or utcnow())
    db.add(bill)
    db.flush()
    for report in reports:
        report.bill_id = bill.id
    db.flush()
    record_step(db, SYSTEM, contract.order, "usage_billed", contract, at=now, period=period, part=part, units=units,
                amount_fen=amount)
    return bill


def _charge_bill(db: Session, bill: UsageBill, now: datetime | None) -> bool:
    contract = load_contract(db, bill.contract_id)
    if bill.amount_fen <= 0:
        bill.status, bill.charged_at = "charged", now or utcnow()
        db.flush()
        return True
    ref = f"usage-bill:{contract.id}:{bill.period}:{bill.part}"
    buyer, seller = ledger.wallet_of(db, contract.buyer_org_id), ledger.wallet_of(db, contract.seller_org_id)
    legs = [ledger.Leg(buyer, seller, bill.amount_fen - bill.fee_fen, "usage", (CAUSE, contract.id), ref, ref),
            ledger.Leg(buyer, ledger.fee_account(db), bill.fee_fen, "fee", (CAUSE, contract.id), ref, f"fee:{ref}")]
    try:
        with db.begin_nested():
            posted = ledger.transfers(db, SYSTEM, [leg for leg in legs if leg.amount_fen > 0], at=now)
    except InvalidInput as exc:  # the wallet is short: nothing moved (the savepoint); told once
        if exc.code != "insufficient_funds":
            raise
        bill.attempts, bill.last_tried_at = bill.attempts + 1, now or utcnow()
        db.flush()
        if not db.scalar(select(TimelineEntry.id).where(TimelineEntry.contract_id == contract.id,
                                                        TimelineEntry.step == "usage_unpaid").limit(1)
                         .where(TimelineEntry.detail["bill"].as_string() == str(bill.id))):
            record_step(db, SYSTEM, contract.order, "usage_unpaid", contract, at=now, bill=str(bill.id),
                        period=bill.period, amount_fen=bill.amount_fen)
            for org_id in (contract.buyer_org_id, contract.seller_org_id):
                notify_party(db, org_id, N_("Contract {number}: the usage bill for {period} ({amount}) could not "
                                            "be charged: the buyer's wallet is short. It is tried again."),
                             contract.order, contract, period=bill.period, amount=ledger.yuan_text(bill.amount_fen))
        return False
    bill.status, bill.charged_at = "charged", now or utcnow()
    bill.attempts, bill.last_tried_at = bill.attempts + 1, bill.charged_at
    bill.transfer_batch = posted[0].batch_id or str(posted[0].id)
    contract.fee_fen += bill.fee_fen
    db.flush()
    record_step(db, SYSTEM, contract.order, "usage_charged", contract, at=now, period=bill.period,
                amount_fen=bill.amount_fen, fee_fen=bill.fee_fen)
    notify_party(db, contract.buyer_org_id, N_("Contract {number}: the usage of {period} was charged ({amount})."),
                 contract.order, contract, period=bill.period, amount=ledger.yuan_text(bill.amount_fen))
    return True
