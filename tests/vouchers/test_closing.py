"""At a programme's end its unspent budget goes back to the administrator's wallet, once: what the
programme still owes stays in its account and is paid on a later claim; the books sum to zero."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core.actor import SYSTEM
from qianshu.core.blobs import open_blob_store
from qianshu.core.errors import Conflict
from qianshu.core.settings import Settings
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerAccount
from qianshu.vouchers import closing, redemption, reports, schemas, service
from qianshu.vouchers.models import Application, Programme, Voucher
from tests.vouchers.conftest import EVIDENCE, World, issue

LIMIT = 1_000_000


def end_programme(db: Session, programme_id: int, days_ago: int = 1) -> None:
    """Time passes: the programme ended ``days_ago`` days ago and its vouchers with it."""
    programme = db.get_one(Programme, programme_id)
    day = service.today()
    programme.starts_on, programme.ends_on = day - timedelta(days=200), day - timedelta(days=days_ago)
    for voucher in db.scalars(select(Voucher).where(Voucher.programme_id == programme_id)):
        voucher.expires_on = programme.ends_on
    db.flush()


def spend_and_claim(db: Session, world: World, settings: Settings) -> int:
    """An order paid partly with a voucher, settled on usage, its claim left pending: the claim's id."""
    vouchers = issue(db, world, world.company, [100_000_00])
    order = redemption.place_order(db, world.actor(world.company), world.programme_id, schemas.OrderIn(
        offering_id=world.offering_id, card_hours=1000, month=service.today().strftime("%Y-%m"),
        purpose="large_model_training", voucher_ids=vouchers))
    blobs = open_blob_store(settings)
    redemption.report_usage(db, world.actor(world.provider), blobs, order.id, schemas.UsageIn(
        used_card_hours=800, evidence_name="m.csv", evidence_base64=EVIDENCE), LIMIT)
    return redemption.claim_reimbursement(db, world.actor(world.provider), blobs, order.id, schemas.ClaimIn(
        invoice_number="52000001", delivery_proof_base64=EVIDENCE), LIMIT).id


def test_an_ended_programme_returns_what_it_does_not_owe_once(db: Session, world: World, settings: Settings) -> None:
    claim_id = spend_and_claim(db, world, settings)
    programme = db.get_one(Programme, world.programme_id)
    with pytest.raises(Conflict) as running:
        closing.return_unspent(db, SYSTEM, programme.id)
    assert running.value.code == "programme_running"
    end_programme(db, programme.id)
    wallet = ledger.balance(db, ledger.wallet_of(db, world.admin.org_id))
    owed = 800 * 1_200 * 3000 // 10_000  # the settled voucher part: 30 % of 800 card-hours at 12 yuan
    assert closing.due(db) == [programme.id]
    returned = closing.close_ended(db)
    assert returned == programme.budget_fen - owed  # the voucher's unspent value lapsed first, then went back
    assert ledger.balance(db, ledger.wallet_of(db, world.admin.org_id)) == wallet + returned
    assert ledger.balance(db, programme.budget_account_id or 0) == owed
    assert programme.closed_at is not None
    assert programme.remaining_fen == 0
    assert closing.close_ended(db) == 0
    assert closing.due(db) == []
    assert closing.return_unspent(db, SYSTEM, programme.id) == 0
    # what it owed is still paid on the provider's claim, from what stayed in the account
    redemption.decide_claim(db, world.actor(world.admin), claim_id, schemas.ClaimDecisionIn(approve=True))
    status = reports.one_budget(db, programme.id)
    assert (status["account_balance_fen"], status["owed_fen"], status["returned_fen"]) == (0, 0, returned)
    assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0
    # an application left pending at the end is not approved afterwards
    pending = Application(programme_id=programme.id, org_id=world.other_company.org_id,
                          purpose="large_model_training", company_size="small", planned_use="训练大模型",
                          requested_fen=10_000_00)
    db.add(pending)
    db.flush()
    with pytest.raises(Conflict) as ended:
        service.decide_application(db, world.actor(world.admin), pending.id, schemas.DecisionIn(approve=True))
    assert ended.value.code == "programme_ended"


def test_value_freed_after_the_close_goes_back_on_the_next_run(db: Session, world: World, settings: Settings) -> None:
    vouchers = issue(db, world, world.company, [100_000_00])
    order = redemption.place_order(db, world.actor(world.company), world.programme_id, schemas.OrderIn(
        offering_id=world.offering_id, card_hours=1000, month=service.today().strftime("%Y-%m"),
        purpose="large_model_training", voucher_ids=vouchers))
    end_programme(db, world.programme_id)
    programme = db.get_one(Programme, world.programme_id)
    first = closing.close_ended(db)
    assert first == programme.budget_fen - order.voucher_fen  # the order's reservation is still owed
    # the order settles below what it reserved: the unused voucher part lapses (the voucher expired)
    redemption.report_usage(db, world.actor(world.provider), open_blob_store(settings), order.id, schemas.UsageIn(
        used_card_hours=500, evidence_name="m.csv", evidence_base64=EVIDENCE), LIMIT)
    kept = 500 * 1_200 * 3000 // 10_000
    assert closing.due(db) == [programme.id]
    assert closing.close_ended(db) == order.voucher_fen - kept
    assert ledger.balance(db, programme.budget_account_id or 0) == kept
    assert programme.returned_fen == programme.budget_fen - kept
    assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0
