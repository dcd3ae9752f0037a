"""Data vouchers: a `data` programme pays part of an exchange contract's price.

Through the exchange's own services, not beside them: the contract is read and the payment made
by ``exchange.payments`` (``authorise``, ``pay``), so escrow, delivery, settlement and disputes stay
the exchange's. At payment the voucher part moves from the programme's budget account to the
buyer's wallet (transfer kind ``voucher_subsidy``) and the exchange then takes the whole price into
escrow, in the same transaction; so the subsidy is paid out at once and needs no claim. The
contract is recorded as the order's ``subject`` (``contract:<id>``, unique), so a contract is
subsidised by one programme once.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.core import audit, policy
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput
from qianshu.exchange import payments
from qianshu.exchange import service as exchange
from qianshu.ledger import service as ledger
from qianshu.translog import service as log
from qianshu.vouchers import schemas
from qianshu.vouchers.models import ComputeOrder, Programme, VoucherUse
from qianshu.vouchers.redemption import usable_voucher
from qianshu.vouchers.service import are_related, get_programme, lock, missing_programme, today, uscc_of


def pay_contract(db: Session, actor: Actor, programme_id: int, data: schemas.ContractPaymentIn) -> ComputeOrder:
    """The buyer pays an exchange contract in force, its data vouchers paying up to the programme's
    ratio and per-contract cap; the rest comes from its wallet (the exchange's payment)."""
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
    subject = f"contract:{contract.id}"
    if db.scalar(select(ComputeOrder.id).where(ComputeOrder.subject == subject)) is not None:
        raise Conflict("Contract {number} is subsidised already.", field="contract_id",
                       code="contract_already_subsidised", number=contract.number)
    if contract.seller_org_id not in programme.provider_org_ids:
        raise Conflict("This provider does not take part in the programme.", field="contract_id",
                       code="provider_not_in_programme")
    if are_related(db, programme.id, actor.org_id, contract.seller_org_id):
        raise Conflict("You and the provider are related parties; a voucher does not pay between them.",
                       field="contract_id", code="related_parties")
    if data.purpose not in programme.eligible_purposes:
        raise InvalidInput("The programme does not pay for this purpose.", field="purpose", code="purpose_not_eligible")
    ids = sorted(set(data.voucher_ids))
    if len(ids) != len(data.voucher_ids) or (programme.one_voucher_per_contract and len(ids) > 1):
        raise InvalidInput("The programme allows one voucher per contract.", field="voucher_ids",
                           code="one_voucher_per_contract")
    vouchers = [usable_voucher(db, actor, programme, voucher_id) for voucher_id in ids]
    price = contract.price_fen
    part = min(price * programme.ratio_bp // 10_000, programme.cap_contract_fen, sum(v.remaining_fen for v in vouchers))
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
    budget = lock(db, Programme, programme.id, missing_programme(programme.id))
    if part:
        assert budget.budget_account_id is not None
        ledger.transfers(db, actor, [ledger.Leg(budget.budget_account_id, ledger.wallet_of(db, actor.org_id), part,
                                                "voucher_subsidy", ("voucher_order", order.id), memo=contract.number,
                                                unique_ref=f"voucher-subsidy:{contract.id}")])
        budget.reimbursed_fen += part
    payments.pay(db, actor, contract.id)  # the exchange's payment: the whole price into escrow
    usccs = uscc_of(db, [actor.org_id, contract.seller_org_id])
    order.log_index = log.append_event(db, "vouchers.redeemed", {
        "order_id": order.id, "programme_id": programme.id, "contract_number": contract.number,
        "company_uscc": usccs[actor.org_id], "provider_uscc": usccs[contract.seller_org_id], "total_fen": price,
        "voucher_fen": part, "vouchers": ids}).index
    audit.record(db, actor, "vouchers.contract.paid", target_type="voucher_order", target_id=order.id,
                 target_org_id=actor.org_id, voucher_fen=part)
    db.flush()
    return order
