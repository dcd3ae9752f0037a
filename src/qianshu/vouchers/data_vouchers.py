"""Data vouchers: a `data` programme pays part of an exchange contract's price, through a claim.

Through the exchange's own services, not beside them: the contract is read and paid by
``exchange.payments`` (``authorise``, ``pay``), so escrow, delivery, settlement and disputes stay the
exchange's. At payment the buyer's vouchers are applied up to the ratio and caps (their value
reserved, as for compute) and the buyer escrows the price less that part (``pay(subsidy_fen=)``);
nothing leaves the programme's budget then. The seller claims the voucher part like a compute
provider (``redemption.claim_reimbursement``: invoice, proof of delivery), once the exchange shows
the contract delivered; the administrator's approval pays it from the budget account. The contract
is the order's ``subject`` (``contract:<id>``, unique), so a contract is subsidised by one
programme once.

A refund of the contract by the exchange (``exchange.contract_refunded``, delivered in the refund's
transaction) returns the matching share of the subsidy to the programme (``on_contract_refunded``):
still unpaid, the claim shrinks; paid already, the seller's wallet pays it back to the budget
account (a wallet short of it refuses the refund, nothing moved).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.core import audit, policy
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.errors import Conflict, InvalidInput
from qianshu.exchange import payments
from qianshu.exchange import service as exchange
from qianshu.exchange.events import ContractRefunded
from qianshu.ledger import service as ledger
from qianshu.translog import service as log
from qianshu.vouchers import schemas
from qianshu.vouchers.models import ComputeOrder, Programme, Reimbursement, Voucher, VoucherUse
from qianshu.vouchers.redemption import PROVIDER_NOT_PAID, held_vouchers
from qianshu.vouchers.service import (
    are_related,
    broken_trust_in_force,
    get_programme,
    lock,
    missing_programme,
    refuse_broken_trust,
    today,
    uscc_of,
)

SUBJECT = "contract:{id}"


def voucher_part(programme: Programme, price_fen: int, remaining_fen: list[int]) -> int:
    """What vouchers of ``remaining_fen`` pay of a contract's price: up to the programme's ratio and
    per-contract cap. At least one fen is the buyer's: the exchange escrows something and settles it."""
    return max(0, min(price_fen * programme.ratio_bp // 10_000, programme.cap_contract_fen, sum(remaining_fen),
                      price_fen - 1))


@dataclass(frozen=True)
class Split:
    """What the chosen vouchers cover of a contract's price, and what the wallet pays."""

    voucher_fen: int
    wallet_fen: int


def split(programme: Programme, price_fen: int, vouchers: list[Voucher]) -> Split:
    part = voucher_part(programme, price_fen, [v.remaining_fen for v in vouchers])
    return Split(part, price_fen - part)


def payment_split(db: Session, actor: Actor, programme_id: int, contract: Any, voucher_ids: list[int]) -> Split:
    """The payment form's figures for the vouchers ticked (``voucher_ids``, those of the buyer's offer
    for the programme; others are ignored), as ``pay_contract`` would apply them: the contract page's
    script asks for them when the ticks change. Nothing is reserved. Where the programme would pay
    nothing of the contract (not the buyer's, paid, ...), the wallet pays all of it."""
    for offer in payment_offers(db, actor, contract):
        if offer.programme.id == programme_id:
            wanted = set(voucher_ids)
            return split(offer.programme, contract.price_fen, [v for v in offer.vouchers if v.id in wanted])
    return Split(0, contract.price_fen)


@dataclass(frozen=True)
class PaymentOffer:
    """A programme whose data vouchers the buyer may apply to a contract, with what they would cover
    (all the vouchers listed, or the largest one where the programme allows one per contract)."""

    programme: Programme
    vouchers: list[Voucher]
    voucher_fen: int
    wallet_fen: int
    chosen: frozenset[int] = frozenset()  # the vouchers the figures count (ticked when the page opens)


def payment_offers(db: Session, actor: Actor, contract: Any) -> list[PaymentOffer]:
    """The data programmes that would pay part of ``contract`` for the buyer ``actor`` now: running,
    with the seller taking part and not related to the buyer, the contract not subsidised yet, and
    vouchers of the buyer still valid and unspent. Empty when the buyer may not pay it (the
    contract page's voucher form, ``contract_pages.py``)."""
    if actor.org_id is None or actor.org_id != contract.buyer_org_id or not policy.allows(actor, "vouchers.apply"):
        return []
    if broken_trust_in_force(db, actor.org_id) is not None:  # its vouchers are not spent (its vouchers page says why)
        return []
    if broken_trust_in_force(db, contract.seller_org_id) is not None:  # no voucher pays the seller meanwhile
        return []
    if db.scalar(select(ComputeOrder.id).where(ComputeOrder.subject == SUBJECT.format(id=contract.id))) is not None:
        return []
    day = today()
    held = db.scalars(select(Voucher).where(Voucher.holder_org_id == actor.org_id, Voucher.remaining_fen > 0,
                                            Voucher.expires_on >= day).order_by(Voucher.expires_on, Voucher.id))
    by_programme: dict[int, list[Voucher]] = {}
    for voucher in held:
        by_programme.setdefault(voucher.programme_id, []).append(voucher)
    offers = []
    for programme_id, vouchers in sorted(by_programme.items()):
        programme = db.get_one(Programme, programme_id)
        if (programme.kind != "data" or not programme.starts_on <= day <= programme.ends_on
                or contract.seller_org_id not in programme.provider_org_ids
                or are_related(db, programme.admin_org_id, actor.org_id, contract.seller_org_id)):
            continue
        # all the vouchers listed, or the largest where one voucher per contract is the rule
        chosen = [max(vouchers, key=lambda v: v.remaining_fen)] if programme.one_voucher_per_contract else vouchers
        figures = split(programme, contract.price_fen, chosen)
        offers.append(PaymentOffer(programme, vouchers, figures.voucher_fen, figures.wallet_fen,
                                   frozenset(v.id for v in chosen)))
    return offers


def pay_contract(db: Session, actor: Actor, programme_id: int, data: schemas.ContractPaymentIn) -> ComputeOrder:
    """The buyer pays an exchange contract in force, its data vouchers covering up to the programme's
    ratio and per-contract cap; it escrows the rest (the exchange's payment). The seller claims the
    voucher part from the programme."""
    policy.require(actor, "vouchers.apply")
    assert actor.org_id is not None
    programme = get_programme(db, actor, programme_id)
    if programme.kind != "data":
        raise Conflict("Only a data voucher pays for an exchange contract.", field="programme_id",
                       code="wrong_programme_kind")
    if not programme.starts_on <= today() <= programme.ends_on:
        raise Conflict("The programme runs from {start} to {end}.", field="programme_id", code="programme_closed",
                       start=programme.starts_on.isoformat(), end=programme.ends_on.isoformat())
    contract = exchange.get_contract(db, actor, data.contract_id)
    payments.authorise(db, actor, "contract.pay", contract_id=contract.id)
    subject = SUBJECT.format(id=contract.id)
    if db.scalar(select(ComputeOrder.id).where(ComputeOrder.subject == subject)) is not None:
        raise Conflict("Contract {number} is subsidised already.", field="contract_id",
                       code="contract_already_subsidised", number=contract.number)
    if contract.seller_org_id not in programme.provider_org_ids:
        raise Conflict("This provider does not take part in the programme.", field="contract_id",
                       code="provider_not_in_programme")
    refuse_broken_trust(db, contract.seller_org_id, PROVIDER_NOT_PAID, "contract_id")
    if are_related(db, programme.admin_org_id, actor.org_id, contract.seller_org_id):
        raise Conflict("You and the provider are related parties; a voucher does not pay between them.",
                       field="contract_id", code="related_parties")
    if data.purpose not in programme.eligible_purposes:
        raise InvalidInput("The programme does not pay for this purpose.", field="purpose", code="purpose_not_eligible")
    ids = sorted(set(data.voucher_ids))
    if len(ids) != len(data.voucher_ids) or (programme.one_voucher_per_contract and len(ids) > 1):
        raise InvalidInput("The programme allows one voucher per contract.", field="voucher_ids",
                           code="one_voucher_per_contract")
    vouchers = held_vouchers(db, actor, programme, ids)
    price = contract.price_fen
    part = split(programme, price, vouchers).voucher_fen
    order = ComputeOrder(programme_id=programme.id, offering_id=None, provider_org_id=contract.seller_org_id,
                         company_org_id=actor.org_id, subject=subject, purpose=data.purpose,
                         month=today().strftime("%Y-%m"), term_months=1, card_hours=0, price_fen_per_card_hour=0,
                         total_fen=price, voucher_fen=part, cash_fen=price - part, status="settled",
                         settled_total_fen=price, settled_voucher_fen=part, log_index=0)
    try:
        with db.begin_nested():
            db.add(order)
            db.flush()
    except IntegrityError:  # the same contract subsidised at the same moment by another request
        raise Conflict("Contract {number} is subsidised already.", field="contract_id",
                       code="contract_already_subsidised", number=contract.number) from None
    left = part
    for voucher in vouchers:
        take = min(left, voucher.remaining_fen)
        if take <= 0:
            break
        voucher.remaining_fen -= take
        left -= take
        db.add(VoucherUse(order_id=order.id, voucher_id=voucher.id, applied_fen=take, settled_fen=take))
    payments.pay(db, actor, contract.id, subsidy_fen=part)  # the buyer escrows the price less the voucher part
    usccs = uscc_of(db, [actor.org_id, contract.seller_org_id])
    order.log_index = log.append_event(db, "vouchers.redeemed", {
        "order_id": order.id, "programme_id": programme.id, "contract_number": contract.number,
        "company_uscc": usccs[actor.org_id], "provider_uscc": usccs[contract.seller_org_id], "total_fen": price,
        "voucher_fen": part, "vouchers": ids}).index
    audit.record(db, actor, "vouchers.contract.paid", target_type="voucher_order", target_id=order.id,
                 target_org_id=actor.org_id, voucher_fen=part)
    db.flush()
    return order


def on_contract_refunded(db: Session, event: ContractRefunded) -> None:
    """The exchange refunded (part of) a contract: the same share of its subsidy goes back to the
    programme's budget. In the refund's transaction: a seller who cannot pay back a subsidy it was
    paid refuses the refund (422, nothing moved)."""
    order = db.scalar(select(ComputeOrder).where(ComputeOrder.subject == SUBJECT.format(id=event.contract_id))
                      .with_for_update().execution_options(populate_existing=True))
    if order is None or not order.settled_voucher_fen or event.escrowed_fen <= 0:
        return
    subsidy = order.settled_voucher_fen
    due = subsidy if event.refunded_fen >= event.escrowed_fen else subsidy * event.refunded_fen // event.escrowed_fen
    back = due - order.returned_fen
    if back <= 0:
        return
    claim = db.scalar(select(Reimbursement).where(Reimbursement.order_id == order.id)
                      .with_for_update().execution_options(populate_existing=True))
    programme = lock(db, Programme, order.programme_id, missing_programme(order.programme_id))
    order.returned_fen += back
    programme.committed_fen -= back  # the value is the budget's again
    if claim is not None and claim.status == "approved":
        assert programme.budget_account_id is not None
        ledger.transfers(db, SYSTEM, [ledger.Leg(ledger.wallet_of(db, order.provider_org_id),
                                                 programme.budget_account_id, back, "voucher_clawback",
                                                 ("voucher_order", order.id), memo=f"contract:{event.contract_id}",
                                                 unique_ref=f"voucher-clawback:{order.id}:{order.returned_fen}")],
                         field="amount_fen")
        programme.reimbursed_fen -= back
    elif claim is not None and claim.status == "pending":
        claim.amount_fen = max(0, subsidy - order.returned_fen)
    usccs = uscc_of(db, [order.company_org_id, order.provider_org_id])
    log.append_event(db, "vouchers.subsidy_returned", {
        "order_id": order.id, "programme_id": programme.id, "contract_id": event.contract_id,
        "company_uscc": usccs[order.company_org_id], "provider_uscc": usccs[order.provider_org_id],
        "returned_fen": back})
    audit.record(db, SYSTEM, "vouchers.subsidy.returned", target_type="voucher_order", target_id=order.id,
                 target_org_id=order.provider_org_id, returned_fen=back)
    db.flush()
