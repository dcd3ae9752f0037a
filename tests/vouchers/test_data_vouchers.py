"""A data voucher pays part of an exchange contract through a claim, as a compute voucher does: the
buyer escrows the price less the voucher part, the seller claims that part after delivery and is
paid from the budget on approval; a contract is subsidised once; a refund of the contract returns
the subsidy's share to the programme (before or after the claim was paid), the books summing to
zero throughout."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core.actor import Actor
from qianshu.core.blobs import BlobStore, open_blob_store
from qianshu.core.errors import Conflict, InvalidInput
from qianshu.core.settings import Settings
from qianshu.exchange import payments
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerAccount
from qianshu.vouchers import data_vouchers, redemption, schemas, service, statistics
from qianshu.vouchers.models import ComputeOrder, Programme, Voucher
from tests.catalog.conftest import buyer, listed, merchant, operator, registration  # noqa: F401 - fixtures
from tests.exchange.conftest import fund, order, signed  # noqa: F401 - fixtures
from tests.vouchers.conftest import programme_in

PROOF = base64.b64encode(b"delivery receipt, contract signed and data downloaded").decode()


@dataclass
class Paid:
    admin: Actor
    programme_id: int
    contract: Any
    order: ComputeOrder
    part: int


def _books(db: Session) -> int:
    return int(db.scalar(select(func.sum(LedgerAccount.balance_fen))) or 0)


def _wallet(db: Session, who: Actor) -> int:
    return ledger.balance(db, ledger.wallet_of(db, who.org_id or 0))


@pytest.fixture
def paid(db: Session, make: Any, buyer: Actor, merchant: Actor,  # noqa: F811
         signed: Callable[..., Any], fund: Callable[..., None]) -> Paid:  # noqa: F811
    admin = make.actor(make.user(organisation=make.org(org_type="voucher_administrator")))
    fund(admin, 10_000_000_00)
    programme = service.create_programme(db, admin, programme_in(
        [merchant.org_id], kind="data", eligible_purposes=["data_product"], ratio_bp=5000,
        face_values_fen=[10_000_00], cap_contract_fen=10_000_00, cap_company_year_fen=10_000_00))
    application = service.apply(db, buyer, programme.id, schemas.ApplicationIn(
        purpose="data_product", company_size="small", planned_use="购买交通数据产品", requested_fen=10_000_00))
    service.decide_application(db, admin, application.id, schemas.DecisionIn(approve=True))
    voucher = db.scalars(select(Voucher).where(Voucher.holder_org_id == buyer.org_id)).one()
    contract = signed()
    fund(buyer, contract.price_fen)
    paid_order = data_vouchers.pay_contract(db, buyer, programme.id, schemas.ContractPaymentIn(
        contract_id=contract.id, voucher_ids=[voucher.id]))
    return Paid(admin, programme.id, contract, paid_order, min(contract.price_fen // 2, 10_000_00))


@pytest.fixture
def blobs(settings: Settings) -> BlobStore:
    return open_blob_store(settings)


def _claim(db: Session, blobs: BlobStore, merchant: Actor, paid: Paid) -> Any:  # noqa: F811
    return redemption.claim_reimbursement(db, merchant, blobs, paid.order.id, schemas.ClaimIn(
        invoice_number="INV-2026-0001", delivery_proof_base64=PROOF), 1_000_000)


def test_the_buyer_escrows_its_part_and_the_seller_is_paid_the_voucher_part_on_its_claim(
        db: Session, paid: Paid, buyer: Actor, merchant: Actor, blobs: BlobStore) -> None:  # noqa: F811
    contract, part = paid.contract, paid.part
    assert paid.order.voucher_fen == part > 0
    assert contract.payment_status == "escrowed"
    assert contract.subsidy_fen == part
    assert _wallet(db, buyer) == part  # funded with the price: it paid all but the voucher part
    programme = db.get_one(Programme, paid.programme_id)
    assert programme.reimbursed_fen == 0  # nothing leaves the budget at payment
    budget_before = ledger.balance(db, programme.budget_account_id or 0)
    with pytest.raises(Conflict) as early:  # a claim waits for the delivery
        _claim(db, blobs, merchant, paid)
    assert early.value.code == "not_delivered"
    payments.deliver(db, merchant, contract.id)
    payments.accept_delivery(db, buyer, contract.id)
    settled = _wallet(db, merchant)
    assert settled == contract.price_fen - part - contract.fee_fen  # the exchange settles what was escrowed
    claim = _claim(db, blobs, merchant, paid)
    assert claim.amount_fen == part
    redemption.decide_claim(db, paid.admin, claim.id, schemas.ClaimDecisionIn(approve=True))
    assert _wallet(db, merchant) == settled + part
    assert ledger.balance(db, programme.budget_account_id or 0) == budget_before - part
    assert db.get_one(Programme, paid.programme_id).reimbursed_fen == part
    assert _books(db) == 0
    # the dashboard: a contract has no data centre's city, and buys no card-hours
    board = statistics.dashboard(db, buyer, paid.programme_id)
    assert [(p.key, p.label("zh"), p.label("en")) for p in board.series["by_city"]] == [
        ("-", "交易合同（数据券）", "Exchange contracts (data vouchers)")]
    assert board.series["hours_by_provider"] == []
    with pytest.raises(Conflict) as twice:  # the same contract again (by this or another programme)
        data_vouchers.pay_contract(db, buyer, paid.programme_id, schemas.ContractPaymentIn(
            contract_id=contract.id, voucher_ids=[paid.order.id]))
    assert twice.value.code == "contract_already_subsidised"


def test_a_refund_before_the_claim_is_paid_returns_the_subsidy_to_the_budget(
        db: Session, paid: Paid, buyer: Actor, merchant: Actor, blobs: BlobStore) -> None:  # noqa: F811
    contract, part = paid.contract, paid.part
    remaining = db.get_one(Programme, paid.programme_id).remaining_fen
    payments.deliver(db, merchant, contract.id)
    claim = _claim(db, blobs, merchant, paid)
    escrowed = contract.price_fen - part
    payments.refund(db, merchant, contract.id, escrowed // 2, "half the rows were missing")
    half = part * (escrowed // 2) // escrowed
    assert paid.order.returned_fen == half
    assert claim.amount_fen == part - half  # the pending claim shrinks to what still stands
    assert db.get_one(Programme, paid.programme_id).remaining_fen == remaining + half
    payments.refund(db, merchant, contract.id, escrowed - escrowed // 2, "the rest too")
    assert contract.payment_status == "refunded"
    assert paid.order.returned_fen == part
    assert claim.amount_fen == 0
    assert db.get_one(Programme, paid.programme_id).remaining_fen == remaining + part
    with pytest.raises(Conflict) as nothing:
        redemption.decide_claim(db, paid.admin, claim.id, schemas.ClaimDecisionIn(approve=True))
    assert nothing.value.code == "nothing_to_claim"
    assert _wallet(db, buyer) == contract.price_fen  # the buyer has all its money back
    board = statistics.dashboard(db, buyer, paid.programme_id)
    assert board.redeemed_fen == 0  # the dashboard no longer counts the refunded subsidy
    assert _books(db) == 0


def test_a_refund_after_the_claim_was_paid_takes_the_subsidy_back_from_the_seller(
        db: Session, paid: Paid, buyer: Actor, merchant: Actor, blobs: BlobStore,  # noqa: F811
        fund: Callable[..., None]) -> None:  # noqa: F811
    contract, part = paid.contract, paid.part
    payments.deliver(db, merchant, contract.id)
    payments.accept_delivery(db, buyer, contract.id)
    claim = _claim(db, blobs, merchant, paid)
    redemption.decide_claim(db, paid.admin, claim.id, schemas.ClaimDecisionIn(approve=True))
    programme = db.get_one(Programme, paid.programme_id)
    budget, remaining = ledger.balance(db, programme.budget_account_id or 0), programme.remaining_fen
    seller, fee = _wallet(db, merchant), contract.fee_fen
    escrowed = contract.price_fen - part
    # the seller's wallet holds its settled part and the subsidy: it can pay both back
    payments.refund(db, merchant, contract.id, escrowed, "the product was withdrawn")
    assert contract.payment_status == "refunded"
    assert ledger.balance(db, programme.budget_account_id or 0) == budget + part
    assert programme.reimbursed_fen == 0
    assert programme.remaining_fen == remaining + part
    assert _wallet(db, merchant) == seller - (escrowed - fee) - part == 0
    assert _books(db) == 0


def test_a_seller_who_cannot_pay_back_the_subsidy_refuses_the_refund_with_nothing_moved(
        db: Session, paid: Paid, buyer: Actor, merchant: Actor, blobs: BlobStore) -> None:  # noqa: F811
    contract, _part = paid.contract, paid.part
    payments.deliver(db, merchant, contract.id)
    payments.accept_delivery(db, buyer, contract.id)
    claim = _claim(db, blobs, merchant, paid)
    redemption.decide_claim(db, paid.admin, claim.id, schemas.ClaimDecisionIn(approve=True))
    other = ledger.open_account(db, kind="escrow", owner_org_id=merchant.org_id, reference="elsewhere")
    ledger.transfer(db, merchant, debit=ledger.wallet_of(db, merchant.org_id or 0), credit=other,
                    amount_fen=_wallet(db, merchant) - 1, kind="test", cause=("test", 1))
    buyer_before = _wallet(db, buyer)
    with pytest.raises(InvalidInput) as short, db.begin_nested():
        payments.refund(db, merchant, contract.id, 1, "a goodwill fen")
    assert short.value.code == "insufficient_funds"
    db.refresh(contract)
    assert contract.refunded_fen == 0
    assert _wallet(db, buyer) == buyer_before
    assert db.get_one(ComputeOrder, paid.order.id).returned_fen == 0
    assert _books(db) == 0
