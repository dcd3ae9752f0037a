"""Subscriptions (monthly, yearly plans): renewal, and the money of each renewed period.

The first period is the contract's own payment (``payments``). Each later period is a
``ContractPeriod`` (number 2, 3 …) that goes the same way: the periodic task ``exchange.renew``
moves its price from the buyer's wallet into the period's own escrow account a day before the
term ends (``RENEW_AHEAD``); the seller marks it delivered, the buyer accepts it (or it is accepted
by itself ``auto_accept_days`` after delivery, as the first period is), and it settles: the seller
and the exchange's fee are paid out of that escrow. Either party may dispute a period in escrow or
delivered (the dispute routes, with ``period``), and an operator decides it as any dispute.

Exactly once: a renewal moves the contract's ``ends_at`` by a conditional UPDATE (``WHERE ends_at =
<the end it read>``) and inserts the period under a unique (contract, number), and the ledger's
``unique_ref`` ``pay:contract:<id>:period:<n>`` guards the charge a third time; a period's status
moves by a conditional UPDATE (``WHERE payment_status IN …``), so of a dispute and an automatic
acceptance at once exactly one happens.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.catalog.policy import terms_from_odrl
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import N_, Label
from qianshu.core.timeutil import as_utc, utcnow
from qianshu.exchange import escrow, payments
from qianshu.exchange.escrow import CAUSE, Held, log_contract_event
from qianshu.exchange.models import Contract, ContractPeriod, Dispute
from qianshu.exchange.service import (
    NO_CONTRACT,
    PERIOD_DAYS,
    load_contract,
    notify_party,
    record_step,
    require_role,
)
from qianshu.exchange.settings import ExchangeSettings
from qianshu.ledger import service as ledger

# A subscription is charged for its next period this long before its term ends, so that access
# does not stop for the minutes between the end and the periodic task's next run.
RENEW_AHEAD = timedelta(days=1)
NO_PERIOD = N_("No such period of this contract.")
# What the latest period of a subscription may be in for another period to be charged.
RENEWABLE = ("escrowed", "delivered", "settled")


def periods_of(db: Session, contract: Contract) -> list[ContractPeriod]:
    """The renewed periods of a contract (2, 3 …), oldest first (by their start: renewals booked
    before 0034 and backfilled by 0036 may be numbered after later ones, see that migration)."""
    return list(
        db.scalars(
            select(ContractPeriod)
            .where(ContractPeriod.contract_id == contract.id)
            .order_by(ContractPeriod.starts_at, ContractPeriod.number)
        )
    )


def get_period(db: Session, contract: Contract, number: object) -> ContractPeriod:
    found = db.scalar(
        select(ContractPeriod).where(ContractPeriod.contract_id == contract.id, ContractPeriod.number == number)
    )
    if found is None:
        raise NotFound(NO_PERIOD, field="period")
    return found


# --- renewal ------------------------------------------------------------------------------------


def set_renewal(db: Session, actor: Actor, contract_id: int, renews: bool) -> Contract:
    """The buyer stops (or resumes) the renewal of a subscription: it then ends at its term."""
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.pay", contract, NO_CONTRACT)
    if contract.plan_kind not in PERIOD_DAYS:
        raise Conflict("Contract {number} is not a subscription.", number=contract.number)
    if contract.renews != renews:
        contract.renews, contract.updated_at = renews, utcnow()
        db.flush()
        record_step(db, actor, contract.order, "renewal_on" if renews else "renewal_off", contract)
    return contract


def renew_due(db: Session, settings: ExchangeSettings, now: datetime | None = None) -> tuple[int, int]:
    """Charge the next period of every paid subscription whose term ends within ``RENEW_AHEAD``
    into that period's escrow and extend the term; one the buyer's wallet cannot pay, whose usage
    policy allows no longer use, or whose latest period is disputed or refunded, lapses with a
    notice (it ends at its term). Returns (renewed, lapsed). Run twice, or by two workers at once,
    a period is charged once: the other run finds the term moved and skips it."""
    moment = now or utcnow()
    due = list(
        db.scalars(
            select(Contract)
            .where(
                Contract.status == "active",
                Contract.plan_kind.in_(tuple(PERIOD_DAYS)),
                Contract.renews.is_(True),
                Contract.payment_status != "unpaid",
                Contract.ends_at <= moment + RENEW_AHEAD,
            )
            .order_by(Contract.id)
            .limit(200)
        )
    )
    renewed = lapsed = 0
    for contract in due:
        reason = _renewal_refused(db, contract)
        if reason is None:
            try:
                with db.begin_nested():
                    _renew(db, contract, settings, moment)
                renewed += 1
                continue
            except InvalidInput as exc:  # insufficient funds: nothing was moved (the savepoint)
                db.refresh(contract)
                short = exc.code == "insufficient_funds"
                reason = N_("not enough money in the buyer's wallet") if short else exc.message
            except (Conflict, IntegrityError):  # renewed by another run meanwhile: nothing moved here
                db.refresh(contract)
                continue
        contract.renews = False
        db.flush()
        record_step(db, SYSTEM, contract.order, "lapsed", contract, reason=reason)
        for org_id in (contract.buyer_org_id, contract.seller_org_id):
            notify_party(
                db,
                org_id,
                N_("Contract {number} will not renew ({reason}); it ends at its term."),
                contract.order,
                contract,
                reason=reason,
            )
        lapsed += 1
    return renewed, lapsed


def _latest_status(db: Session, contract: Contract) -> str:
    latest = db.scalar(
        select(ContractPeriod.payment_status)
        .where(ContractPeriod.contract_id == contract.id)
        .order_by(ContractPeriod.ends_at.desc(), ContractPeriod.number.desc())
        .limit(1)
    )
    return latest or contract.payment_status


def _renewal_refused(db: Session, contract: Contract) -> str | None:
    """Why a subscription may not run another period: its usage policy limits the whole use, or
    its latest period is disputed or was refunded."""
    limit = terms_from_odrl(contract.document.get("usage_policy") or {}).term_days
    if contract.starts_at is None or contract.ends_at is None:
        return N_("the contract has no term")
    if limit is not None:
        used = (as_utc(contract.ends_at) - as_utc(contract.starts_at)).days + PERIOD_DAYS[contract.plan_kind]
        if used > limit:
            return N_("the usage policy's term is reached")
    if _latest_status(db, contract) not in RENEWABLE:
        return N_("its latest period is disputed or was refunded")
    return None


def _renew(db: Session, contract: Contract, settings: ExchangeSettings, now: datetime) -> None:
    period_end = as_utc(contract.ends_at)  # type: ignore[arg-type]
    until = period_end + timedelta(days=PERIOD_DAYS[contract.plan_kind])
    moved = db.execute(
        update(Contract)
        .where(
            Contract.id == contract.id,
            Contract.ends_at == contract.ends_at,
            Contract.status == "active",
            Contract.renews.is_(True),
        )
        .values(ends_at=until, version=Contract.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("Contract {number} was renewed meanwhile.", number=contract.number)
    db.refresh(contract)
    number = 2 + int(
        db.scalar(select(func.count(ContractPeriod.id)).where(ContractPeriod.contract_id == contract.id)) or 0
    )
    period = ContractPeriod(
        contract_id=contract.id,
        number=number,
        starts_at=period_end,
        ends_at=until,
        price_fen=contract.price_fen,
        payment_status="escrowed",
        fee_fen=0,
        refunded_fen=0,
        paid_at=now,
    )
    db.add(period)
    db.flush()
    ledger.transfer(
        db,
        SYSTEM,
        debit=ledger.wallet_of(db, contract.buyer_org_id),
        credit=Held(contract, period).escrow(db, opening=True),
        amount_fen=contract.price_fen,
        kind="escrow",
        cause=(CAUSE, contract.id),
        memo=f"{contract.number} #{number}",
        unique_ref=f"pay:{Held(contract, period).ref()}",
        at=now,
    )
    index = log_contract_event(db, "exchange.contract_renewed", contract, until=until.date().isoformat())
    record_step(
        db,
        SYSTEM,
        contract.order,
        "renewed",
        contract,
        at=now,
        amount_fen=contract.price_fen,
        period=number,
        until=until.isoformat(timespec="seconds"),
        log_index=index,
    )
    notify_party(
        db,
        contract.buyer_org_id,
        N_("Contract {number} renewed for another period, until {until}."),
        contract.order,
        contract,
        until=until.date().isoformat(),
    )
    notify_party(
        db,
        contract.seller_org_id,
        N_("Contract {number}: period {period} is paid into escrow: deliver the data."),
        contract.order,
        contract,
        period=number,
    )


# --- a renewed period's delivery, acceptance and settlement ---------------------------------------


def _first(period: object) -> bool:
    """``period`` names the contract's own (first) period: not given, or 1."""
    return period in (None, 1)


def deliver(
    db: Session, actor: Actor, contract_id: int, period: int | None = None, at: datetime | None = None
) -> Contract:
    """The seller marks a period delivered (``period`` 2 …; the first period: ``payments.deliver``)."""
    if _first(period):
        return payments.deliver(db, actor, contract_id, at)
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.deliver", contract, NO_CONTRACT)
    escrow.deliver(db, actor, Held(contract, get_period(db, contract, period)), at)
    return contract


def accept_delivery(
    db: Session,
    actor: Actor,
    contract_id: int,
    settings: ExchangeSettings | None = None,
    period: int | None = None,
    at: datetime | None = None,
    last: list[Callable[[], None]] | None = None,
) -> Contract:
    """The buyer accepts a period's delivery: it settles (seller paid, fee booked; ``last``: as
    ``escrow.settle``'s)."""
    if _first(period):
        return payments.accept_delivery(db, actor, contract_id, settings, at, last)
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.accept_delivery", contract, NO_CONTRACT)
    settle(
        db,
        actor,
        contract,
        get_period(db, contract, period),
        settings or ExchangeSettings(),
        "delivery_accepted",
        at=at,
        last=last,
    )
    return contract


def settle(
    db: Session,
    actor: Actor,
    contract: Contract,
    period: ContractPeriod,
    settings: ExchangeSettings,
    step: str,
    allowed: tuple[str, ...] = ("delivered",),
    at: datetime | None = None,
    last: list[Callable[[], None]] | None = None,
) -> None:
    """Pay the seller and the fee out of the period's escrow (what is left of its price)."""
    escrow.settle(db, actor, Held(contract, period), settings, step, allowed, at, last)


def auto_accept_due(db: Session, settings: ExchangeSettings, now: datetime | None = None) -> int:
    """Settle renewed periods delivered ``auto_accept_days`` ago that the buyer neither accepted nor
    disputed (the first period's: ``payments.auto_accept_due``). A dispute or an acceptance that
    won meanwhile stands: that period is skipped with nothing moved."""
    due = (now or utcnow()) - timedelta(days=settings.auto_accept_days)
    found = list(
        db.scalars(
            select(ContractPeriod)
            .where(ContractPeriod.payment_status == "delivered", ContractPeriod.delivered_at <= due)
            .order_by(ContractPeriod.id)
            .limit(200)
        )
    )
    settled = 0
    for period in found:
        try:
            with db.begin_nested():
                settle(
                    db,
                    SYSTEM,
                    load_contract(db, period.contract_id),
                    period,
                    settings,
                    "accepted_automatically",
                    at=now,
                )
            settled += 1
        except Conflict:
            continue
    return settled


# --- disputes and refunds of a renewed period -----------------------------------------------------


def raise_dispute(
    db: Session, actor: Actor, contract_id: int, reason: str, period: int | None = None, at: datetime | None = None
) -> Dispute:
    """Either party disputes a period in escrow or delivered: its settlement waits for an operator."""
    if _first(period):
        return payments.raise_dispute(db, actor, contract_id, reason, at)
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.dispute", contract, NO_CONTRACT)
    if not reason.strip():  # before the period is looked up, as for the first period
        raise InvalidInput("{field} is required.", field="reason")
    return escrow.dispute(db, actor, Held(contract, get_period(db, contract, period)), reason, at)


def open_disputes(db: Session, contract: Contract) -> dict[int, Dispute]:
    """The open disputes over a contract's renewed periods, by period number."""
    found = db.scalars(
        select(Dispute).where(
            Dispute.contract_id == contract.id, Dispute.status == "open", Dispute.period_number.is_not(None)
        )
    )
    return {d.period_number: d for d in found if d.period_number is not None}


def decide_period_dispute(
    db: Session,
    actor: Actor,
    dispute: Dispute,
    decision: str,
    reason: str,
    refund_fen: object = 0,
    settings: ExchangeSettings | None = None,
    at: datetime | None = None,
) -> Dispute:
    """As ``payments.decide_dispute``, on the period's escrow: ``release``, ``refund`` or
    ``partial_refund`` (``refund_fen`` back to the buyer, the rest settles), with a written reason."""
    contract = payments.decidable(db, actor, dispute, reason)
    item = Held(contract, get_period(db, contract, dispute.period_number))
    amount = payments.dispute_refund(decision, refund_fen, item.held())
    escrow.decide(db, actor, item, dispute, amount, decision, reason, settings or ExchangeSettings(), at)
    return dispute


def refund_escrowed(
    db: Session,
    actor: Actor,
    contract: Contract,
    period: ContractPeriod,
    amount: int,
    reason: str,
    allowed: tuple[str, ...],
    at: datetime | None = None,
) -> None:
    """Part or all of a period's escrow back to the buyer's wallet (before it settles)."""
    escrow.refund_escrowed(db, actor, Held(contract, period), amount, reason, allowed, at)


def refund_settled(
    db: Session,
    actor: Actor,
    contract: Contract,
    period: ContractPeriod,
    amount: int,
    reason: str,
    at: datetime | None = None,
) -> None:
    """A refund of a settled period (the seller agreeing, or an operator deciding): the seller's
    wallet and the fee's share back to the buyer, as for the price (``escrow.refund_settled``)."""
    escrow.refund_settled(db, actor, Held(contract, period), amount, reason, at)


def refund(
    db: Session,
    actor: Actor,
    contract_id: int,
    amount_fen: object,
    reason: str,
    period: int | None = None,
    at: datetime | None = None,
) -> Contract:
    """The seller (or an operator) returns all or part of a period's price: out of its escrow
    before settlement, out of the seller's wallet and the fee account after."""
    if _first(period):
        return payments.refund(db, actor, contract_id, amount_fen, reason, at)
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.refund", contract, NO_CONTRACT)
    if not reason.strip():
        raise InvalidInput("{field} is required.", field="reason")
    found = get_period(db, contract, period)
    amount = payments.checked_amount(amount_fen, found.price_fen - found.refunded_fen)
    if found.payment_status == "settled":
        refund_settled(db, actor, contract, found, amount, reason, at)
    elif found.payment_status in ("escrowed", "delivered"):
        refund_escrowed(db, actor, contract, found, amount, reason, ("escrowed", "delivered"), at)
    else:
        raise Conflict(
            "Contract {number}, period {period}, is {status}; this cannot be done now.",
            number=contract.number,
            period=found.number,
            status=Label("payment status", found.payment_status),
        )
    return contract


def paid_for(db: Session, contract_id: int, at: datetime) -> bool | None:
    """Whether the renewed period running at ``at`` is paid for (in escrow, delivered, disputed or
    settled; not refunded); None when no renewed period runs then."""
    status = db.scalar(
        select(ContractPeriod.payment_status).where(
            ContractPeriod.contract_id == contract_id, ContractPeriod.starts_at <= at, ContractPeriod.ends_at > at
        )
    )
    return None if status is None else status != "refunded"
