"""The money of a contract on the real ledger: escrow, delivery, settlement with the fee, refunds,
disputes, metered usage; each bad input refused with nothing moved."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from qianshu.catalog.schemas import PlanIn
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from qianshu.exchange import contracts, payments, renewals, trades
from qianshu.exchange.models import Contract
from qianshu.exchange.settings import ExchangeSettings
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerAccount
from qianshu.translog.service import get_leaf
from tests.factories import Factories

PRICE = 120_000  # the listed fixture's one-time plan: ¥1,200


def _wallet(db: Session, who: Actor) -> int:
    return ledger.balance(db, ledger.wallet_of(db, who.org_id or 0))


def _books_balance(db: Session) -> None:
    assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0


def test_pay_deliver_accept_settles_with_the_fee(db: Session, buyer: Actor, merchant: Actor,
                                                 signed: Callable[..., Contract], fund: Any) -> None:
    contract = signed()
    assert not contracts.contract_is_active(db, contract.id, "download")  # unpaid: no access yet
    assert trades.next_steps(db, buyer).payments_due == 1
    fund(buyer, 200_000)
    payments.pay(db, buyer, contract.id)
    assert contract.payment_status == "escrowed"
    assert trades.next_steps(db, buyer).payments_due == 0
    assert trades.next_steps(db, merchant).deliveries_to_make == 1
    assert _wallet(db, buyer) == 80_000
    assert contracts.contract_is_active(db, contract.id, "download")
    with pytest.raises(Conflict):  # paying twice moves nothing
        payments.pay(db, buyer, contract.id)
    assert _wallet(db, buyer) == 80_000
    with pytest.raises(Conflict):  # settling an undelivered contract
        payments.accept_delivery(db, buyer, contract.id)
    payments.deliver(db, merchant, contract.id)
    assert trades.next_steps(db, buyer).deliveries_to_confirm == 1
    payments.accept_delivery(db, buyer, contract.id)
    assert trades.next_steps(db, buyer).total == 0
    assert (contract.payment_status, contract.fee_fen) == ("settled", 3_000)  # 2.5 %
    assert _wallet(db, merchant) == PRICE - 3_000
    assert ledger.balance(db, ledger.fee_account(db)) == 3_000
    kinds = [t.kind for t in ledger.transfers_by_cause(db, "contract", contract.id)]
    assert kinds == ["escrow", "settlement", "fee"]
    leaf_index = next(e.detail["log_index"] for e in trades.timeline(db, buyer, contract.order_id)
                      if e.step == "settled")
    leaf = get_leaf(db, leaf_index)
    assert leaf.event_type == "exchange.contract_settled"
    assert str(PRICE) not in leaf.leaf.decode()
    _books_balance(db)


def test_fee_rate_per_category(db: Session, buyer: Actor, merchant: Actor, signed: Callable[..., Contract],
                               fund: Any) -> None:
    contract = signed()  # the fixture's registrations are industry G54: section G
    fund(buyer, PRICE)
    payments.pay(db, buyer, contract.id)
    payments.deliver(db, merchant, contract.id)
    settings = ExchangeSettings(fee_basis_points_by_category={"G": 100})
    payments.accept_delivery(db, buyer, contract.id, settings)
    assert contract.fee_fen == 1_200


def test_paying_without_funds_moves_nothing(db: Session, buyer: Actor, signed: Callable[..., Contract],
                                            fund: Any) -> None:
    contract = signed()
    fund(buyer, PRICE - 1)
    with pytest.raises(InvalidInput) as caught:
        payments.pay(db, buyer, contract.id)
    assert caught.value.code == "insufficient_funds"
    assert caught.value.field == "amount_fen"


def test_only_the_buyer_pays_and_third_parties_see_nothing(db: Session, make: Factories, merchant: Actor,
                                                          signed: Callable[..., Contract]) -> None:
    contract = signed()
    third = make.actor(make.user(organisation=make.org(org_type="buyer")))
    with pytest.raises(PermissionDenied):
        payments.pay(db, merchant, contract.id)
    with pytest.raises(NotFound):
        payments.pay(db, third, contract.id)
    assert contract.payment_status == "unpaid"


def test_automatic_acceptance_after_the_configured_days(db: Session, buyer: Actor, merchant: Actor,
                                                        signed: Callable[..., Contract], fund: Any) -> None:
    contract = signed()
    fund(buyer, PRICE)
    payments.pay(db, buyer, contract.id)
    payments.deliver(db, merchant, contract.id)
    settings = ExchangeSettings(auto_accept_days=3)
    assert payments.auto_accept_due(db, settings) == 0
    contract.delivered_at = contract.delivered_at - timedelta(days=3)  # type: ignore[operator]
    db.flush()
    assert payments.auto_accept_due(db, settings) == 1
    assert contract.payment_status == "settled"
    steps = [e.step for e in trades.timeline(db, buyer, contract.order_id)]
    assert "accepted_automatically" in steps


def test_partial_then_full_refund(db: Session, buyer: Actor, merchant: Actor, signed: Callable[..., Contract],
                                  fund: Any) -> None:
    contract = signed()
    fund(buyer, PRICE)
    payments.pay(db, buyer, contract.id)
    for bad in (0, -5, PRICE + 1, "12.5", "abc", 10**20):
        with pytest.raises(InvalidInput) as caught:
            payments.refund(db, merchant, contract.id, bad, "部分字段缺失")
        assert caught.value.field == "amount_fen"
    with pytest.raises(PermissionDenied):
        payments.refund(db, buyer, contract.id, 100, "自己退款")
    payments.refund(db, merchant, contract.id, 20_000, "部分字段缺失")
    assert (contract.payment_status, contract.refunded_fen, _wallet(db, buyer)) == ("escrowed", 20_000, 20_000)
    payments.refund(db, merchant, contract.id, 100_000, "无法交付")
    assert contract.payment_status == "refunded"
    assert _wallet(db, buyer) == PRICE
    assert not contracts.contract_is_active(db, contract.id, "download")
    _books_balance(db)


def test_dispute_blocks_settlement_until_the_operator_decides(db: Session, buyer: Actor, merchant: Actor,
                                                              operator: Actor, signed: Callable[..., Contract],
                                                              fund: Any) -> None:
    contract = signed()
    fund(buyer, PRICE)
    payments.pay(db, buyer, contract.id)
    payments.deliver(db, merchant, contract.id)
    dispute = payments.raise_dispute(db, buyer, contract.id, "交付的数据缺少两个月")
    assert trades.next_steps(db, operator).disputes == 1
    assert trades.next_steps(db, merchant).disputes == 1
    with pytest.raises(Conflict):  # settling a disputed contract
        payments.accept_delivery(db, buyer, contract.id)
    contract.delivered_at = contract.delivered_at - timedelta(days=30)  # type: ignore[operator]
    db.flush()
    assert payments.auto_accept_due(db, ExchangeSettings()) == 0
    with pytest.raises(PermissionDenied):
        payments.decide_dispute(db, buyer, dispute.id, "refund", "我说了算")
    with pytest.raises(InvalidInput):
        payments.decide_dispute(db, operator, dispute.id, "partial_refund", "", 100)
    payments.decide_dispute(db, operator, dispute.id, "partial_refund", "缺两个月，退还四分之一", 30_000)
    assert (dispute.status, contract.payment_status, contract.refunded_fen) == ("decided", "settled", 30_000)
    assert _wallet(db, buyer) == 30_000
    assert _wallet(db, merchant) == 90_000 - 2_250  # fee on what was settled
    with pytest.raises(Conflict):
        payments.decide_dispute(db, operator, dispute.id, "refund", "再次")
    events = [get_leaf(db, e.detail["log_index"]).event_type for e in trades.timeline(db, buyer, contract.order_id)
              if "log_index" in e.detail]
    assert "exchange.refund" in events
    assert "exchange.dispute_decided" in events
    _books_balance(db)


def test_metered_usage_gathers_into_one_bill_per_period(db: Session, buyer: Actor, merchant: Actor,
                                                         signed: Callable[..., Contract], fund: Any) -> None:
    from qianshu.core.timeutil import utcnow
    from qianshu.exchange.models import UsageBill

    contract = signed(plans=[PlanIn(kind="per_1000_rows", price="2", delivery_modes=["download"])])
    with pytest.raises(Conflict):  # nothing to pay in advance
        payments.pay(db, buyer, contract.id)
    fund(buyer, 10_000)
    report = payments.record_usage(db, SYSTEM, contract.id, "delivery-7-2026-11", 2_500)
    assert report.amount_fen == 500  # 2,500 rows at ¥2 per 1,000: what the report adds to the bill
    again = payments.record_usage(db, SYSTEM, contract.id, "delivery-7-2026-11", 2_500)
    assert again.id == report.id
    payments.record_usage(db, SYSTEM, contract.id, "delivery-7-2026-11b", 1_001)
    assert _wallet(db, buyer) == 10_000  # received, not charged yet
    with pytest.raises(Conflict) as caught:
        payments.record_usage(db, SYSTEM, contract.id, "delivery-7-2026-11", 9)
    assert caught.value.field == "report_id"
    for bad in (0, -3, True, "12", 10**16):
        with pytest.raises(InvalidInput) as refused:
            payments.record_usage(db, SYSTEM, contract.id, "r2", bad)  # type: ignore[arg-type]
        assert refused.value.field == "units"
    with pytest.raises(InvalidInput) as refused:
        payments.record_usage(db, SYSTEM, contract.id, " ", 5)
    assert refused.value.field == "report_id"
    with pytest.raises(PermissionDenied):
        payments.record_usage(db, buyer, contract.id, "r3", 5)
    settings = ExchangeSettings()
    assert payments.bill_usage_due(db, settings) == (0, 0)  # the period has not ended
    next_month = utcnow() + timedelta(days=32)
    assert payments.bill_usage_due(db, settings, next_month) == (1, 0)
    bill = db.scalars(select(UsageBill).where(UsageBill.contract_id == contract.id)).one()
    # 3,501 rows priced together: ¥7.002, a part of a fen rounded up (the reports alone: 500 + 201)
    assert (bill.units, bill.reports, bill.amount_fen, bill.fee_fen, bill.status) == (3_501, 2, 701, 18, "charged")
    assert _wallet(db, buyer) == 10_000 - 701
    assert _wallet(db, merchant) == 701 - 18
    assert payments.bill_usage_due(db, settings, next_month) == (0, 0)  # charged once
    assert [t.kind for t in ledger.transfers_by_cause(db, "contract", contract.id)] == ["usage", "fee"]
    _books_balance(db)


def test_a_usage_bill_the_wallet_cannot_pay_waits_and_is_charged_later(
        db: Session, buyer: Actor, merchant: Actor, signed: Callable[..., Contract], fund: Any) -> None:
    from qianshu.core.timeutil import utcnow
    from qianshu.exchange.models import UsageBill

    contract = signed(plans=[PlanIn(kind="per_1000_rows", price="500", delivery_modes=["download"])])
    payments.record_usage(db, SYSTEM, contract.id, "rows-1", 1_000)  # ¥500
    later = utcnow() + timedelta(days=32)
    settings = ExchangeSettings()
    assert payments.bill_usage_due(db, settings, later) == (0, 1)
    assert payments.bill_usage_due(db, settings, later) == (0, 1)  # tried again, told once
    steps = [e.step for e in trades.timeline(db, buyer, contract.order_id)]
    assert steps.count("usage_unpaid") == 1
    assert _wallet(db, buyer) == 0
    fund(buyer, 60_000)
    assert payments.bill_usage_due(db, settings, later) == (1, 0)
    assert _wallet(db, buyer) == 10_000
    assert db.scalars(select(UsageBill.status).where(UsageBill.contract_id == contract.id)).all() == ["charged"]
    _books_balance(db)


def test_a_refund_after_settlement_comes_from_the_seller_and_the_fee(
        db: Session, buyer: Actor, merchant: Actor, operator: Actor, signed: Callable[..., Contract],
        fund: Any) -> None:
    contract = signed()
    fund(buyer, PRICE)
    payments.pay(db, buyer, contract.id)
    payments.deliver(db, merchant, contract.id)
    payments.accept_delivery(db, buyer, contract.id)
    assert (_wallet(db, merchant), contract.fee_fen) == (PRICE - 3_000, 3_000)
    with pytest.raises(PermissionDenied):  # the buyer asks; the seller or the operator decides
        payments.refund(db, buyer, contract.id, 100, "请退款")
    for bad in (0, PRICE + 1, "x"):
        with pytest.raises(InvalidInput) as caught:
            payments.refund(db, merchant, contract.id, bad, "数据有误")
        assert caught.value.field == "amount_fen"
    payments.refund(db, merchant, contract.id, 40_000, "双方协商：部分数据有误，退还三分之一")
    assert (contract.payment_status, contract.refunded_fen, contract.fee_fen) == ("settled", 40_000, 2_000)
    assert _wallet(db, buyer) == 40_000
    assert _wallet(db, merchant) == PRICE - 3_000 - 39_000
    assert ledger.balance(db, ledger.fee_account(db)) == 2_000
    # the seller's wallet is short of its part: refused, nothing moved
    ledger.withdraw(db, operator, org_id=merchant.org_id or 0, amount_fen=_wallet(db, merchant) - 1_000,
                    bank_reference="ICBC-OUT-1")
    with pytest.raises(InvalidInput) as short:
        payments.refund(db, operator, contract.id, 80_000, "运营裁定全额退款")
    assert (short.value.code, short.value.field) == ("insufficient_funds", "amount_fen")
    assert (contract.refunded_fen, _wallet(db, buyer)) == (40_000, 40_000)
    fund(merchant, 100_000)
    payments.refund(db, operator, contract.id, 80_000, "运营裁定全额退款")
    assert (contract.payment_status, contract.refunded_fen, contract.fee_fen) == ("refunded", PRICE, 0)
    assert _wallet(db, buyer) == PRICE
    assert ledger.balance(db, ledger.fee_account(db)) == 0
    assert not contracts.contract_is_active(db, contract.id, "download")
    with pytest.raises(Conflict):
        payments.refund(db, operator, contract.id, 1, "再次")
    kinds = [t.kind for t in ledger.transfers_by_cause(db, "contract", contract.id)]
    assert kinds == ["escrow", "settlement", "fee", "refund", "fee_refund", "refund", "fee_refund"]
    leaves = [get_leaf(db, e.detail["log_index"]) for e in trades.timeline(db, buyer, contract.order_id)
              if e.step == "refunded"]
    assert [leaf.event_type for leaf in leaves] == ["exchange.refund", "exchange.refund"]
    _books_balance(db)


def test_fee_share_rounds_half_up_and_never_exceeds_the_fee() -> None:
    assert payments.fee_share(3_000, 40_000, 120_000) == 1_000
    assert payments.fee_share(25, 1, 2) == 13  # 12.5 rounds up
    assert payments.fee_share(3, 10, 10) == 3
    assert payments.fee_share(0, 10, 10) == 0


def _subscription(db: Session, buyer: Actor, merchant: Actor, signed: Callable[..., Contract], fund: Any,
                  **policy: Any) -> Contract:
    from qianshu.catalog.schemas import PolicyIn

    contract = signed(plans=[PlanIn(kind="monthly", price="100", delivery_modes=["api"],
                                    policy=PolicyIn(**policy))])
    fund(buyer, 10_000)
    payments.pay(db, buyer, contract.id)
    payments.deliver(db, merchant, contract.id)
    payments.accept_delivery(db, buyer, contract.id)
    return contract


def test_a_subscription_renews_each_period_with_a_new_charge(db: Session, buyer: Actor, merchant: Actor,
                                                             signed: Callable[..., Contract], fund: Any) -> None:
    contract = _subscription(db, buyer, merchant, signed, fund, term_days=None)
    first_end = contract.ends_at
    assert first_end is not None
    assert _wallet(db, buyer) == 0
    settings = ExchangeSettings()
    assert renewals.renew_due(db, settings) == (0, 0)  # a month away
    fund(buyer, 25_000)
    at = first_end - timedelta(hours=2)
    assert renewals.renew_due(db, settings, now=at) == (1, 0)
    assert contract.ends_at == first_end + timedelta(days=30)
    assert _wallet(db, buyer) == 15_000
    assert _wallet(db, merchant) == 10_000 - 250  # the new period waits in its escrow (test_renewals.py)
    assert renewals.renew_due(db, settings, now=at) == (0, 0)  # charged once per period
    assert contracts.contract_is_active(db, contract.id, "api", at=first_end + timedelta(days=10))
    # the buyer stops it: it ends at its term
    renewals.set_renewal(db, buyer, contract.id, False)
    assert renewals.renew_due(db, settings, now=contract.ends_at - timedelta(hours=1)) == (0, 0)
    _books_balance(db)


def test_a_subscription_the_wallet_cannot_pay_lapses_with_a_notice(
        db: Session, buyer: Actor, merchant: Actor, signed: Callable[..., Contract], fund: Any) -> None:
    from qianshu.core import inbox

    contract = _subscription(db, buyer, merchant, signed, fund, term_days=None)
    assert renewals.renew_due(db, ExchangeSettings(), now=contract.ends_at) == (0, 1)  # the wallet is empty
    assert contract.renews is False
    assert contract.status == "active"
    notes = [inbox.render(n, "en") for n in inbox.inbox(db, buyer)]
    assert any("will not renew (not enough money in the buyer's wallet)" in n for n in notes)
    assert any("不再续期（买方钱包余额不足）" in inbox.render(n, "zh") for n in inbox.inbox(db, buyer))
    assert contracts.expire_due(db, now=contract.ends_at) == (0, 1)
    assert contract.status == "ended"


def test_a_subscription_stops_at_the_policys_term(db: Session, buyer: Actor, merchant: Actor,
                                                 signed: Callable[..., Contract], fund: Any) -> None:
    contract = _subscription(db, buyer, merchant, signed, fund, term_days=45)
    fund(buyer, 10_000)
    assert renewals.renew_due(db, ExchangeSettings(), now=contract.ends_at) == (0, 1)
    assert _wallet(db, buyer) == 10_000


def test_a_payment_shows_the_contract_as_it_is_after_a_change_made_meanwhile(
        db: Session, buyer: Actor, signed: Callable[..., Contract], fund: Any) -> None:
    """The status update reads back every column but the document; a contract changed by another
    transaction between this session's read and the payment is shown with its new document."""
    contract = signed()
    fund(buyer, 200_000)
    changed = {**contract.document, "note": "changed meanwhile"}
    # As another transaction would: straight to the row, past this session's copy of the contract.
    db.execute(update(Contract).where(Contract.id == contract.id)
               .values(document=changed, version=Contract.version + 1)
               .execution_options(synchronize_session=False))
    assert "note" not in contract.document
    payments.pay(db, buyer, contract.id)
    assert contract.payment_status == "escrowed"
    assert contract.document["note"] == "changed meanwhile"
