"""A buyer's request for a refund after settlement: the buyer picks what it asks back (the
contract's price, a renewed period's price, or a paid usage bill: an ``Item``) and asks an amount up
to what was paid for it less earlier refunds of it, with a reason, within ``refund_request_days``
of that item's settlement (a bill's: its charge); the seller accepts
or refuses; unanswered after ``refund_answer_days`` it goes to an operator by itself, and a refused one
the buyer may take there within ``refund_escalation_days`` of the refusal; the operator decides with a
written reason, as with a dispute. An accepted or granted request is paid by
``payments.refund_settled``: the seller's wallet and the fee account back to the buyer (leaf
``exchange.refund``); an operator's decision is a leaf of its own
(``exchange.refund_request_decided``).

One open request per item (the price, each renewed period, each paid bill): the database holds it
(``open_item`` is unique), so of two requests of one item at once the second gets a 409; requests of
different items of one contract may be open together, each paid from its own item. Every answer and
decision moves the request's status by a conditional UPDATE (``WHERE status IN …``), so of two at
once (the seller accepting while it refuses, or while an operator decides) exactly one wins and the
other gets a 409 with nothing moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import N_, Label
from qianshu.core.timeutil import as_utc, local_display, utcnow
from qianshu.exchange import escrow, renewals
from qianshu.exchange.escrow import log_contract_event
from qianshu.exchange.models import Contract, ContractPeriod, RefundRequest, UsageBill
from qianshu.exchange.payments import refund_settled
from qianshu.exchange.service import (
    NO_CONTRACT,
    PREPAID_KINDS,
    load_contract,
    notify_party,
    record_step,
    require_role,
)
from qianshu.exchange.settings import ExchangeSettings
from qianshu.ledger import service as ledger

NO_REQUEST = N_("No such refund request.")
ALREADY_OPEN = N_("Contract {number} already has an open refund request for this item; wait for its answer.")
ESCALATION_CLOSED = N_("The refund request on contract {number} can no longer be taken to the exchange's operators: "
                       "the time to do so after the seller's refusal ended on {date}.")


def _request(db: Session, request_id: int) -> tuple[RefundRequest, Contract]:
    found = db.get(RefundRequest, request_id)
    if found is None:
        raise NotFound(NO_REQUEST)
    return found, load_contract(db, found.contract_id)


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("{field} is required.", field="reason")
    return reason[:2000]


@dataclass(frozen=True)
class Item:
    """What a refund request asks back: the contract's price (``period`` 1), a renewed period's
    price (``period`` 2 …) or a paid usage bill (``bill``)."""

    period: int | None
    bill: UsageBill | None
    paid_fen: int  # what the buyer paid for it (a subsidised price: less the voucher's part)
    refunded_fen: int
    settled: bool
    settled_at: datetime | None

    @property
    def remaining(self) -> int:
        return self.paid_fen - self.refunded_fen

    @property
    def key(self) -> str:
        """The item as the portal's form names it: ``period-2``, ``bill-17``."""
        return f"bill-{self.bill.id}" if self.bill is not None else f"period-{self.period or 1}"


def item_of(db: Session, contract: Contract, period: object = None, bill_id: object = None) -> Item:
    """The item a request names: ``bill_id`` (a usage bill of this contract), else ``period`` (1 or
    none: the contract's price; 2 …: a renewed period). A stranger's bill or period is 404."""
    if bill_id is not None:
        bill = db.get(UsageBill, bill_id) if isinstance(bill_id, int) else None
        if bill is None or bill.contract_id != contract.id:
            raise NotFound("No such usage bill of this contract.", field="bill_id")
        return Item(None, bill, bill.amount_fen, bill.refunded_fen, bill.status == "charged", bill.charged_at)
    if period in (None, 1):
        return Item(1, None, contract.price_fen - contract.subsidy_fen, contract.refunded_fen,
                    contract.payment_status == "settled" and contract.plan_kind in PREPAID_KINDS, contract.settled_at)
    found: ContractPeriod = renewals.get_period(db, contract, period)
    return Item(found.number, None, found.price_fen, found.refunded_fen, found.payment_status == "settled",
                found.settled_at)


def item_of_request(db: Session, contract: Contract, request: RefundRequest) -> Item:
    return item_of(db, contract, request.period_number, request.bill_id)


def _amount(value: object, item: Item) -> int:
    amount = ledger.parse_amount(value, "amount_fen")
    if amount > item.remaining:
        raise InvalidInput("{field} must be at most {max}.", field="amount_fen", max=item.remaining)
    return amount


def item_window_ends(item: Item, settings: ExchangeSettings) -> datetime | None:
    """Until when the buyer may ask for this item (None: not settled)."""
    if item.settled_at is None:
        return None
    return as_utc(item.settled_at) + timedelta(days=settings.refund_request_days)


def refundable_items(db: Session, contract: Contract, settings: ExchangeSettings,
                     now: datetime | None = None) -> list[Item]:
    """What the buyer may ask back now: settled items with something left, within their window."""
    moment = now or utcnow()
    found = [item_of(db, contract)]
    found += [item_of(db, contract, p.number) for p in renewals.periods_of(db, contract)]
    found += [item_of(db, contract, bill_id=b) for b in db.scalars(
        select(UsageBill.id).where(UsageBill.contract_id == contract.id, UsageBill.status == "charged",
                                   UsageBill.amount_fen > 0).order_by(UsageBill.id))]
    return [i for i in found if i.settled and i.remaining > 0 and (item_window_ends(i, settings) or moment) > moment]


def window_ends(contract: Contract, settings: ExchangeSettings) -> datetime | None:
    """Until when the buyer may ask for the contract's price back (None: it has not settled)."""
    if contract.settled_at is None:
        return None
    return as_utc(contract.settled_at) + timedelta(days=settings.refund_request_days)


def open_key(contract: Contract, item: Item) -> str:
    """``open_item`` of an open request of this item (unique: one open request per item)."""
    return f"{contract.id}:{item.key}"


def request_key(request: RefundRequest) -> str:
    """The item a request names, as ``Item.key`` names it."""
    if request.bill_id is not None:
        return f"bill-{request.bill_id}"
    return f"period-{request.period_number or 1}"


def open_request(db: Session, contract: Contract, item: Item) -> RefundRequest | None:
    return db.scalar(select(RefundRequest).where(RefundRequest.open_item == open_key(contract, item)))


def requests_of(db: Session, contract: Contract) -> list[RefundRequest]:
    return list(db.scalars(select(RefundRequest).where(RefundRequest.contract_id == contract.id)
                           .order_by(RefundRequest.id)))


def get_request(db: Session, actor: Actor, request_id: int) -> RefundRequest:
    found, contract = _request(db, request_id)
    require_role(actor, "trade.read", contract, NO_REQUEST)
    return found


def request_refund(db: Session, actor: Actor, contract_id: int, amount_fen: object, reason: str,
                   settings: ExchangeSettings | None = None, at: datetime | None = None, *,
                   period: object = None, bill_id: object = None) -> RefundRequest:
    """The buyer asks for ``amount_fen`` back of a settled item of a contract (its price; a renewed
    ``period``; a paid usage bill ``bill_id``), saying why."""
    settings = settings or ExchangeSettings()
    now = at or utcnow()
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.request_refund", contract, NO_CONTRACT)
    item = item_of(db, contract, period, bill_id)
    if not item.settled:
        if item.bill is not None:
            raise Conflict("The usage bill of {month} is not paid; only a paid bill can be refunded.",
                           field="bill_id", month=item.bill.period)
        if item.period not in (None, 1):
            raise Conflict("Contract {number}, period {period}, is {status}; a refund can be asked only after "
                           "settlement.", field="period", number=contract.number, period=item.period,
                           status=Label("payment status", renewals.get_period(db, contract, item.period)
                                        .payment_status))
        raise Conflict("Contract {number} is {status}; a refund can be asked only after settlement.",
                       number=contract.number, status=Label("payment status", contract.payment_status))
    closes = item_window_ends(item, settings)
    if closes is not None and now > closes:
        raise Conflict("The time to ask for a refund of contract {number} ended on {date}.",
                       number=contract.number, date=closes.date().isoformat())
    reason, amount = _reason(reason), _amount(amount_fen, item)
    if open_request(db, contract, item) is not None:
        raise Conflict(ALREADY_OPEN, number=contract.number)
    made = RefundRequest(contract_id=contract.id, open_contract_id=contract.id, open_item=open_key(contract, item),
                         requested_by_org_id=actor.org_id or 0, requested_by=actor.user_id, amount_fen=amount,
                         reason=reason, status="pending", created_at=now,
                         period_number=item.period if item.period not in (None, 1) else None,
                         bill_id=item.bill.id if item.bill is not None else None)
    try:
        with db.begin_nested():  # another request committed meanwhile: the unique key refuses this one
            db.add(made)
            db.flush()
    except IntegrityError:
        raise Conflict(ALREADY_OPEN, number=contract.number) from None
    record_step(db, actor, contract.order, "refund_requested", contract, at=now, amount_fen=amount, reason=reason,
                request=made.id, **_detail(item))
    notify_party(db, contract.seller_org_id,
                 N_("The buyer asks for {amount} back from contract {number}: {reason}"), contract.order, contract,
                 amount=ledger.yuan_text(amount), reason=reason)
    return made


def _detail(item: Item) -> dict[str, Any]:
    """The item in a timeline entry's detail (the price of the first period: nothing, as before)."""
    if item.bill is not None:
        return {"bill": item.bill.id, "month": item.bill.period}
    return {"period": item.period} if item.period not in (None, 1) else {}


def _move(db: Session, request: RefundRequest, allowed: tuple[str, ...], to: str, **values: Any) -> None:
    """Move the request's status by a conditional UPDATE: of two answers at once, one wins."""
    moved = db.execute(update(RefundRequest).where(RefundRequest.id == request.id,
                                                   RefundRequest.status.in_(allowed))
                       .values(status=to, **values).execution_options(synchronize_session=False))
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        db.refresh(request)
        raise Conflict("This refund request is {status}; this cannot be done now.",
                       status=Label("refund request status", request.status))
    db.refresh(request)


def answer_refund(db: Session, actor: Actor, request_id: int, accept: bool, reason: str = "",
                  at: datetime | None = None, settings: ExchangeSettings | None = None) -> RefundRequest:
    """The seller accepts (the refund is paid at once, from its wallet and the fee account) or
    refuses, saying why (the buyer may then take it to an operator, within ``refund_escalation_days``)."""
    settings = settings or ExchangeSettings()
    now = at or utcnow()
    request, contract = _request(db, request_id)
    require_role(actor, "contract.answer_refund", contract, NO_REQUEST)
    if not accept:
        reason = _reason(reason)
        _move(db, request, ("pending",), "refused", open_contract_id=None, open_item=None, answer_reason=reason,
              answered_by=actor.user_id, answered_at=now)
        record_step(db, actor, contract.order, "refund_request_refused", contract, at=now, reason=reason,
                    request=request.id)
        until = escalation_ends(request, settings)
        notify_party(db, contract.buyer_org_id,
                     N_("The seller refused your refund request on contract {number}: {reason}. You may take it "
                        "to the exchange's operators until {date}."), contract.order, contract, reason=reason,
                     date=local_display(until, "%Y-%m-%d %H:%M GMT+08:00"))
        return request
    with db.begin_nested():  # the seller's wallet short of its part: nothing moves, not even the status
        _move(db, request, ("pending",), "accepted", open_contract_id=None, open_item=None, answered_by=actor.user_id,
              answered_at=now, refund_fen=request.amount_fen, answer_reason=(reason or "").strip()[:2000])
        _pay(db, actor, contract, request, now)
    record_step(db, actor, contract.order, "refund_request_accepted", contract, at=now,
                amount_fen=request.amount_fen, request=request.id)
    return request


def _pay(db: Session, actor: Actor, contract: Contract, request: RefundRequest, now: datetime) -> None:
    """Pay an accepted or granted request from the item it names, as it stands now."""
    db.refresh(contract)
    if request.bill_id is not None:
        db.expire(db.get_one(UsageBill, request.bill_id))
    item = item_of_request(db, contract, request)
    if not item.settled or request.refund_fen > item.remaining:
        raise Conflict("Contract {number} has only {amount} left to refund.", number=contract.number,
                       amount=ledger.yuan_text(max(item.remaining, 0) if item.settled else 0))
    if item.bill is not None:
        _refund_bill(db, actor, contract, item.bill, request.refund_fen, request.reason, now)
    elif item.period not in (None, 1):
        renewals.refund_settled(db, actor, contract, renewals.get_period(db, contract, item.period),
                                request.refund_fen, request.reason, now)
    else:
        refund_settled(db, actor, contract, request.refund_fen, request.reason, now)


def _refund_bill(db: Session, actor: Actor, contract: Contract, bill: UsageBill, amount: int, reason: str,
                 now: datetime) -> None:
    """A paid usage bill's charge back to the buyer: the seller's part from its wallet, the fee's
    share from the fee account. The bill's ``refunded_fen`` moves by a conditional UPDATE (of two
    refunds of one bill at once, one wins)."""
    held = bill.amount_fen - bill.refunded_fen
    fee_back = escrow.fee_share(bill.fee_fen, amount, held)
    legs = escrow.settled_refund_legs(db, contract, amount, fee_back, reason)
    with db.begin_nested():  # a seller short of its part: nothing moves
        moved = db.execute(update(UsageBill).where(UsageBill.id == bill.id, UsageBill.status == "charged",
                                                   UsageBill.refunded_fen == bill.refunded_fen)
                           .values(refunded_fen=UsageBill.refunded_fen + amount,
                                   fee_fen=UsageBill.fee_fen - fee_back)
                           .execution_options(synchronize_session=False))
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("Contract {number} has only {amount} left to refund.", number=contract.number,
                           amount=ledger.yuan_text(0))
        db.execute(update(Contract).where(Contract.id == contract.id)
                   .values(fee_fen=Contract.fee_fen - fee_back, version=Contract.version + 1)
                   .execution_options(synchronize_session=False))
        ledger.transfers(db, actor, legs, at=now)
    db.refresh(bill)
    db.refresh(contract)
    escrow.announce_settled_refund(
        db, actor, contract, amount, fee_back, reason, amount == held, now,
        N_("Contract {number}: {amount} of the usage bill of {bill} was refunded to the buyer ({reason})."),
        bill=bill.period if bill.part == 1 else f"{bill.period} ({bill.part})")


def escalation_ends(request: RefundRequest, settings: ExchangeSettings) -> datetime | None:
    """Until when the buyer may take a refused request to the operators (None: it is not refused)."""
    if request.status != "refused":
        return None
    return as_utc(request.answered_at or request.created_at) + timedelta(days=settings.refund_escalation_days)


def escalate(db: Session, actor: Actor, request_id: int, at: datetime | None = None,
             settings: ExchangeSettings | None = None) -> RefundRequest:
    """The buyer takes a refused request to the exchange's operators, within
    ``refund_escalation_days`` of the refusal (one the seller leaves unanswered goes there by itself
    after ``refund_answer_days``: ``escalate_unanswered``)."""
    settings = settings or ExchangeSettings()
    now = at or utcnow()
    request, contract = _request(db, request_id)
    require_role(actor, "contract.request_refund", contract, NO_REQUEST)
    ends = escalation_ends(request, settings)  # the refusal's time never changes: no race here
    if ends is not None and as_utc(now) > ends:
        raise Conflict(ESCALATION_CLOSED, code="refund_escalation_closed", number=contract.number,
                       date=local_display(ends, "%Y-%m-%d %H:%M GMT+08:00"))
    try:
        with db.begin_nested():
            _move(db, request, ("refused",), "escalated", open_contract_id=contract.id,
                  open_item=f"{contract.id}:{request_key(request)}", escalated_at=now)
    except IntegrityError:  # the buyer asked again meanwhile: that request is the open one
        raise Conflict(ALREADY_OPEN, number=contract.number) from None
    _escalated(db, actor, contract, request, now)
    return request


def _escalated(db: Session, actor: Actor, contract: Contract, request: RefundRequest, now: datetime) -> None:
    record_step(db, actor, contract.order, "refund_request_escalated", contract, at=now, request=request.id)
    for org_id in (contract.buyer_org_id, contract.seller_org_id):
        notify_party(db, org_id, N_("The refund request on contract {number} went to the exchange's operators."),
                     contract.order, contract)


def escalate_unanswered(db: Session, settings: ExchangeSettings, now: datetime | None = None) -> int:
    """Requests the seller left unanswered for ``refund_answer_days`` go to the operators."""
    moment = now or utcnow()
    due = moment - timedelta(days=settings.refund_answer_days)
    ids = list(db.scalars(select(RefundRequest.id).where(RefundRequest.status == "pending",
                                                         RefundRequest.created_at <= due)
                          .order_by(RefundRequest.id).limit(200)))
    for request_id in ids:
        request, contract = _request(db, request_id)
        try:
            _move(db, request, ("pending",), "escalated", escalated_at=moment)
        except Conflict:  # answered meanwhile
            continue
        _escalated(db, SYSTEM, contract, request, moment)
    return len(ids)


def decide_refund(db: Session, actor: Actor, request_id: int, grant: bool, reason: str,
                  refund_fen: object = None, at: datetime | None = None) -> RefundRequest:
    """An operator decides an escalated request with a written reason: ``grant`` refunds
    ``refund_fen`` (by default what the buyer asked; never more), otherwise it is rejected."""
    now = at or utcnow()
    request, contract = _request(db, request_id)
    require_role(actor, "contract.decide_refund", contract, NO_REQUEST)
    reason = _reason(reason)
    amount = 0
    if grant:
        amount = request.amount_fen if refund_fen in (None, "", 0) else ledger.parse_amount(refund_fen, "refund_fen")
        if amount > request.amount_fen:
            raise InvalidInput("{field} must be at most {max}.", field="refund_fen", max=request.amount_fen)
    with db.begin_nested():
        _move(db, request, ("escalated",), "granted" if grant else "rejected", open_contract_id=None, open_item=None,
              decision_reason=reason, decided_by=actor.user_id, decided_at=now, refund_fen=amount)
        if grant:
            _pay(db, actor, contract, request, now)
    index = log_contract_event(db, "exchange.refund_request_decided", contract,
                               decision="granted" if grant else "rejected")
    record_step(db, actor, contract.order, "refund_request_decided", contract, at=now,
                decision="granted" if grant else "rejected", amount_fen=amount, reason=reason, request=request.id,
                log_index=index)
    for org_id in (contract.buyer_org_id, contract.seller_org_id):
        notify_party(db, org_id, N_("The refund request on contract {number} is decided: {reason}"),
                     contract.order, contract, reason=reason)
    return request


def authorise(db: Session, actor: Actor, action: str, *, contract_id: int | None = None,
              request_id: int | None = None) -> None:
    """Who may not do ``action`` is refused before the Idempotency-Key is looked at (api.py)."""
    if request_id is not None:
        _found, contract = _request(db, request_id)
        require_role(actor, action, contract, NO_REQUEST)
        return
    require_role(actor, action, load_contract(db, contract_id or 0), NO_CONTRACT)


def waiting(db: Session, actor: Actor) -> tuple[int, int]:
    """(requests the actor's organisation has to answer as seller, escalated requests to decide)."""
    from sqlalchemy import func

    from qianshu.core.policy import allows

    to_answer = 0
    if actor.org_id is not None:
        to_answer = int(db.scalar(select(func.count(RefundRequest.id))
                                  .join(Contract, Contract.id == RefundRequest.contract_id)
                                  .where(RefundRequest.status == "pending",
                                         Contract.seller_org_id == actor.org_id)) or 0)
    to_decide = 0
    if allows(actor, "contract.decide_refund"):
        to_decide = int(db.scalar(select(func.count(RefundRequest.id))
                                  .where(RefundRequest.status == "escalated")) or 0)
    return to_answer, to_decide
