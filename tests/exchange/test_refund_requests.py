"""A buyer's refund request after settlement, on the real ledger: asked within the window, accepted
by the seller (paid from its wallet and the fee account), refused and taken to an operator, or
left unanswered until it goes there by itself; each bad input refused with nothing moved."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core import inbox
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from qianshu.core.timeutil import local_display, utcnow
from qianshu.exchange import payments, refunds, trades
from qianshu.exchange.models import Contract
from qianshu.exchange.settings import ExchangeSettings
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerAccount, LedgerTransfer
from qianshu.translog.service import get_leaf
from tests.factories import Factories

PRICE = 120_000  # the listed fixture's one-time plan: ¥1,200; fee 2.5 % = 3,000


def _wallet(db: Session, who: Actor) -> int:
    return ledger.balance(db, ledger.wallet_of(db, who.org_id or 0))


def _books_balance(db: Session) -> None:
    assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0


def _transfers(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(LedgerTransfer)) or 0)


@pytest.fixture
def settled(db: Session, buyer: Actor, merchant: Actor, signed: Callable[..., Contract],
            fund: Any) -> Callable[[], Contract]:
    def _make() -> Contract:
        contract = signed()
        fund(buyer, PRICE)
        payments.pay(db, buyer, contract.id)
        payments.deliver(db, merchant, contract.id)
        payments.accept_delivery(db, buyer, contract.id)
        return contract

    return _make


def _steps(db: Session, buyer: Actor, contract: Contract) -> list[str]:
    return [e.step for e in trades.timeline(db, buyer, contract.order_id)]


def test_the_buyer_asks_and_the_seller_accepts(db: Session, buyer: Actor, merchant: Actor,
                                               settled: Callable[[], Contract]) -> None:
    contract = settled()
    assert (_wallet(db, buyer), _wallet(db, merchant), contract.fee_fen) == (0, PRICE - 3_000, 3_000)
    before = _transfers(db)
    for bad in (0, -5, PRICE + 1, "x", 1.5):
        with pytest.raises(InvalidInput) as caught:
            refunds.request_refund(db, buyer, contract.id, bad, "部分字段缺失")
        assert caught.value.field == "amount_fen"
    with pytest.raises(InvalidInput) as caught:
        refunds.request_refund(db, buyer, contract.id, 100, "  ")
    assert caught.value.field == "reason"
    request = refunds.request_refund(db, buyer, contract.id, 40_000, "约三分之一记录缺少站点编号")
    assert request.status == "pending"
    assert trades.next_steps(db, merchant).refunds_to_answer == 1
    told = [inbox.render(n, "zh") for n in inbox.inbox(db, merchant, capability="exchange")]
    assert any("¥400.00" in text and "站点编号" in text for text in told), told
    with pytest.raises(Conflict) as twice:  # one open request per contract
        refunds.request_refund(db, buyer, contract.id, 1_000, "再要一次")
    assert "已有" in twice.value.render("zh")
    assert "already has" in twice.value.render("en")
    assert _transfers(db) == before  # asking moves nothing
    refunds.answer_refund(db, merchant, request.id, True)
    assert (request.status, request.refund_fen, request.open_contract_id) == ("accepted", 40_000, None)
    assert (contract.payment_status, contract.refunded_fen, contract.fee_fen) == ("settled", 40_000, 2_000)
    assert _wallet(db, buyer) == 40_000
    assert _wallet(db, merchant) == PRICE - 3_000 - 39_000
    kinds = [t.kind for t in ledger.transfers_by_cause(db, "contract", contract.id)][-2:]
    assert kinds == ["refund", "fee_refund"]
    with pytest.raises(Conflict):  # answered: a second answer is refused
        refunds.answer_refund(db, merchant, request.id, False, "改主意")
    steps = _steps(db, buyer, contract)
    assert steps[-3:] == ["refund_requested", "refunded", "refund_request_accepted"]
    leaf = next(e for e in trades.timeline(db, buyer, contract.order_id) if e.step == "refunded")
    assert get_leaf(db, leaf.detail["log_index"]).event_type == "exchange.refund"
    # the rest may be asked for in a new request; never more than is left
    with pytest.raises(InvalidInput):
        refunds.request_refund(db, buyer, contract.id, PRICE - 40_000 + 1, "全部退回")
    second = refunds.request_refund(db, buyer, contract.id, PRICE - 40_000, "其余部分也不可用")
    refunds.answer_refund(db, merchant, second.id, True)
    assert (contract.payment_status, contract.refunded_fen, contract.fee_fen) == ("refunded", PRICE, 0)
    assert _wallet(db, buyer) == PRICE
    with pytest.raises(Conflict):  # nothing left: refunded
        refunds.request_refund(db, buyer, contract.id, 1, "再退")
    _books_balance(db)


def test_refused_then_taken_to_the_operator_who_grants_part(db: Session, buyer: Actor, merchant: Actor,
                                                            operator: Actor, settled: Callable[[], Contract]) -> None:
    contract = settled()
    request = refunds.request_refund(db, buyer, contract.id, 60_000, "数据质量与描述不符")
    with pytest.raises(InvalidInput) as caught:  # a refusal says why
        refunds.answer_refund(db, merchant, request.id, False, "")
    assert caught.value.field == "reason"
    with pytest.raises(PermissionDenied):  # the buyer does not answer its own request
        refunds.answer_refund(db, buyer, request.id, True)
    with pytest.raises(Conflict):  # pending: the seller has not answered yet
        refunds.escalate(db, buyer, request.id)
    refunds.answer_refund(db, merchant, request.id, False, "数据已按合同交付，质量报告合格")
    assert (request.status, request.open_contract_id) == ("refused", None)
    assert any("拒绝" in inbox.render(n, "zh") for n in inbox.inbox(db, buyer, capability="exchange"))
    with pytest.raises(PermissionDenied):  # the seller does not escalate
        refunds.escalate(db, merchant, request.id)
    with pytest.raises(PermissionDenied):  # only operators decide
        refunds.decide_refund(db, merchant, request.id, True, "同意")
    with pytest.raises(Conflict):  # not escalated yet
        refunds.decide_refund(db, operator, request.id, True, "运营裁定")
    refunds.escalate(db, buyer, request.id)
    assert (request.status, request.open_contract_id) == ("escalated", contract.id)
    assert trades.next_steps(db, operator).refunds_to_decide >= 1
    with pytest.raises(Conflict):  # open again: no second request meanwhile
        refunds.request_refund(db, buyer, contract.id, 1_000, "另一笔")
    with pytest.raises(InvalidInput) as caught:  # never more than was asked
        refunds.decide_refund(db, operator, request.id, True, "部分支持", 60_001)
    assert caught.value.field == "refund_fen"
    with pytest.raises(InvalidInput) as caught:
        refunds.decide_refund(db, operator, request.id, True, " ")
    assert caught.value.field == "reason"
    refunds.decide_refund(db, operator, request.id, True, "经核查部分记录缺失，支持退还一半", 30_000)
    assert (request.status, request.refund_fen) == ("granted", 30_000)
    assert (contract.refunded_fen, contract.fee_fen, _wallet(db, buyer)) == (30_000, 2_250, 30_000)
    decided = next(e for e in trades.timeline(db, buyer, contract.order_id) if e.step == "refund_request_decided")
    leaf = get_leaf(db, decided.detail["log_index"])
    assert leaf.event_type == "exchange.refund_request_decided"
    payload = leaf.document["payload"]
    assert (payload["decision"], payload["number"]) == ("granted", contract.number)
    assert "30000" not in str(payload)  # amounts stay private
    assert "amount" not in str(payload)
    with pytest.raises(Conflict):  # decided once
        refunds.decide_refund(db, operator, request.id, False, "再裁定")
    # a rejection moves no money
    other = refunds.request_refund(db, buyer, contract.id, 10_000, "再申请")
    refunds.answer_refund(db, merchant, other.id, False, "不同意")
    refunds.escalate(db, buyer, other.id)
    before = _transfers(db)
    refunds.decide_refund(db, operator, other.id, False, "理由不成立")
    assert (other.status, other.refund_fen, _transfers(db)) == ("rejected", 0, before)
    _books_balance(db)


def test_the_window_and_the_unanswered_request(db: Session, buyer: Actor, merchant: Actor,
                                               settled: Callable[[], Contract], signed: Callable[..., Contract],
                                               make: Factories) -> None:
    settings = ExchangeSettings(refund_request_days=10, refund_answer_days=3)
    contract = settled()
    late = utcnow() + timedelta(days=11)
    with pytest.raises(Conflict) as closed:
        refunds.request_refund(db, buyer, contract.id, 1_000, "晚了", settings, at=late)
    assert "结束" in closed.value.render("zh")
    assert "ended" in closed.value.render("en")
    unpaid = signed()
    with pytest.raises(Conflict):  # not settled: before settlement the dispute is the way
        refunds.request_refund(db, buyer, unpaid.id, 1_000, "未结算", settings)
    with pytest.raises(PermissionDenied):  # the seller does not ask itself
        refunds.request_refund(db, merchant, contract.id, 1_000, "卖方", settings)
    stranger = make.actor(make.user(organisation=make.org(org_type="buyer")))
    with pytest.raises(NotFound):  # a third organisation is told it does not exist
        refunds.request_refund(db, stranger, contract.id, 1_000, "第三方", settings)
    request = refunds.request_refund(db, buyer, contract.id, 5_000, "字段缺失", settings)
    with pytest.raises(NotFound):
        refunds.get_request(db, stranger, request.id)
    assert refunds.escalate_unanswered(db, settings, utcnow() + timedelta(days=2)) == 0
    assert refunds.escalate_unanswered(db, settings, utcnow() + timedelta(days=4)) == 1
    assert request.status == "escalated"
    assert "refund_request_escalated" in _steps(db, buyer, contract)
    with pytest.raises(Conflict):  # escalated: the seller's answer comes too late
        refunds.answer_refund(db, merchant, request.id, True)


def test_a_seller_short_of_its_part_cannot_accept_and_nothing_moves(
        db: Session, buyer: Actor, merchant: Actor, operator: Actor, settled: Callable[[], Contract]) -> None:
    contract = settled()
    request = refunds.request_refund(db, buyer, contract.id, PRICE, "数据完全不可用")
    ledger.withdraw(db, operator, org_id=merchant.org_id or 0, amount_fen=_wallet(db, merchant) - 100,
                    bank_reference="ICBC-OUT-RR")
    before = _transfers(db)
    with pytest.raises(InvalidInput) as short:
        refunds.answer_refund(db, merchant, request.id, True)
    assert (short.value.code, short.value.field) == ("insufficient_funds", "amount_fen")
    db.refresh(request)
    assert (request.status, request.open_contract_id) == ("pending", contract.id)
    assert (contract.refunded_fen, _transfers(db), _wallet(db, buyer)) == (0, before, 0)
    _books_balance(db)


def test_a_refused_request_goes_to_the_operators_only_within_the_escalation_window(
        db: Session, buyer: Actor, merchant: Actor, operator: Actor, settled: Callable[[], Contract]) -> None:
    settings = ExchangeSettings(refund_escalation_days=5)
    contract = settled()
    refused_at = utcnow()
    request = refunds.request_refund(db, buyer, contract.id, 40_000, "字段缺失", settings, at=refused_at)
    refunds.answer_refund(db, merchant, request.id, False, "数据完整", at=refused_at, settings=settings)
    ends = refunds.escalation_ends(request, settings)
    assert ends is not None
    assert ends - refused_at == timedelta(days=5)
    # the refusal tells the buyer until when (Asia/Shanghai, to the minute, with the zone)
    until = local_display(ends, "%Y-%m-%d %H:%M GMT+08:00")
    told = [inbox.render(n, "zh") for n in inbox.inbox(db, buyer, capability="exchange")]
    assert any("拒绝" in text and until in text for text in told), told
    steps = len(_steps(db, buyer, contract))
    with pytest.raises(Conflict) as late:
        refunds.escalate(db, buyer, request.id, at=ends + timedelta(minutes=1), settings=settings)
    assert late.value.code == "refund_escalation_closed"
    assert late.value.render("zh") == (f"合同 {contract.number} 的退款申请已不能提交交易所运营方裁决："
                                       f"卖方拒绝后可以提交的期限已于 {until} 结束。")
    assert late.value.render("en") == (f"The refund request on contract {contract.number} can no longer be taken to "
                                       f"the exchange's operators: the time to do so after the seller's refusal "
                                       f"ended on {until}.")
    db.refresh(request)
    assert (request.status, request.escalated_at, request.open_item) == ("refused", None, None)
    assert len(_steps(db, buyer, contract)) == steps  # nothing recorded
    assert trades.next_steps(db, operator).refunds_to_decide == 0
    # on its last minute it still goes; the operator then decides it as any other
    refunds.escalate(db, buyer, request.id, at=ends, settings=settings)
    assert request.status == "escalated"
    assert refunds.escalation_ends(request, settings) is None  # no longer refused
    refunds.decide_refund(db, operator, request.id, False, "交付完整")
    assert request.status == "rejected"
