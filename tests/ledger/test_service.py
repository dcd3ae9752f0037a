"""The books as other capabilities use them: accounts, transfers, balances, deposits, withdrawals."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DatabaseError, IntegrityError

from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from qianshu.ledger import service
from qianshu.ledger.models import LedgerAccount, LedgerTransfer
from tests.factories import Factories


def _sum_of_balances(db) -> int:  # type: ignore[no-untyped-def]
    return int(db.scalar(select(func.coalesce(func.sum(LedgerAccount.balance_fen), 0))))


def test_opening_an_account_is_idempotent_per_kind_owner_and_reference(db, make: Factories) -> None:
    org = make.org()
    wallet = service.wallet_of(db, org.id)
    assert service.wallet_of(db, org.id).id == wallet.id
    escrow = service.open_account(db, kind="escrow", owner_org_id=org.id, reference="contract-1")
    assert escrow.id != wallet.id
    assert service.open_account(db, kind="escrow", owner_org_id=org.id, reference="contract-1").id == escrow.id
    assert service.open_account(db, kind="escrow", owner_org_id=org.id, reference="contract-2").id != escrow.id
    assert service.fee_account(db).owner_org_id is None
    assert service.bank_clearing_account(db).may_go_negative
    assert not wallet.may_go_negative
    with pytest.raises(NotFound) as unknown:
        service.wallet_of(db, 987_654_321)
    assert unknown.value.field == "org_id"
    with pytest.raises(InvalidInput):
        service.open_account(db, kind="piggy_bank", owner_org_id=org.id)


def test_a_deposit_moves_money_from_the_bank_into_the_wallet_and_the_books_sum_to_zero(
        db, make: Factories, operator: Actor) -> None:
    org = make.org()
    posted = service.deposit(db, operator, org_id=org.id, amount_fen=123_456, bank_reference="ICBC-20261130-001")
    wallet = service.wallet_of(db, org.id)
    assert service.balance(db, wallet) == 123_456
    assert service.balance(db, service.bank_clearing_account(db)) <= -123_456
    assert posted.kind == "deposit"
    assert posted.cause_type == "bank_transfer"
    assert posted.cause_id == "ICBC-20261130-001"
    assert posted.credit_balance_fen == 123_456
    assert _sum_of_balances(db) == 0
    with pytest.raises(Conflict) as twice:
        service.deposit(db, operator, org_id=org.id, amount_fen=1, bank_reference="ICBC-20261130-001")
    assert twice.value.field == "bank_reference"
    assert service.balance(db, wallet) == 123_456


def test_a_withdrawal_above_the_balance_is_refused_and_moves_nothing(db, make: Factories, operator: Actor) -> None:
    org = make.org()
    service.deposit(db, operator, org_id=org.id, amount_fen=10_000, bank_reference="B-1")
    with pytest.raises(InvalidInput) as refused:
        service.withdraw(db, operator, org_id=org.id, amount_fen=10_001, bank_reference="W-1")
    assert refused.value.code == "insufficient_funds"
    assert refused.value.field == "amount_fen"
    assert "¥100.00" in refused.value.render("en")
    assert "余额" in refused.value.render("zh")
    assert service.balance(db, service.wallet_of(db, org.id)) == 10_000
    service.withdraw(db, operator, org_id=org.id, amount_fen=10_000, bank_reference="W-1")
    assert service.balance(db, service.wallet_of(db, org.id)) == 0
    assert _sum_of_balances(db) == 0


@pytest.mark.parametrize("amount", [0, -5, 1.5, 100.0, "abc", "12.5", None, True, 2**63, 10**15 + 1, "9" * 30])
def test_bad_amounts_are_refused_naming_the_field(db, make: Factories, operator: Actor, amount: object) -> None:
    org = make.org()
    with pytest.raises(InvalidInput) as refused:
        service.deposit(db, operator, org_id=org.id, amount_fen=amount, bank_reference="X-1")
    assert refused.value.field == "amount_fen"
    assert refused.value.render("zh") != refused.value.render("en")
    assert db.scalar(select(func.count()).select_from(LedgerTransfer)) == 0


def test_only_operators_record_deposits(db, make: Factories) -> None:
    org = make.org()
    admin = make.actor(make.user(organisation=org, org_role="admin"))
    auditor = make.actor(make.operator(staff_role="auditor"))
    for who in (admin, auditor):
        with pytest.raises(PermissionDenied):
            service.deposit(db, who, org_id=org.id, amount_fen=100, bank_reference="P-1")


def test_a_batch_moves_all_its_legs_or_none(db, make: Factories, operator: Actor) -> None:
    buyer, seller = make.org(), make.org()
    service.deposit(db, operator, org_id=buyer.id, amount_fen=100_000, bank_reference="D-1")
    wallet, escrow = service.wallet_of(db, buyer.id), service.open_account(
        db, kind="escrow", owner_org_id=buyer.id, reference="contract-9")
    fees, seller_wallet = service.fee_account(db), service.wallet_of(db, seller.id)
    paid = service.transfer(db, SYSTEM, debit=wallet, credit=escrow, amount_fen=80_000, kind="escrow",
                            cause=("contract", 9))
    assert paid.batch_id is None
    settled = service.transfers(db, SYSTEM, [
        service.Leg(escrow, seller_wallet, 78_000, "settlement", ("contract", 9)),
        service.Leg(escrow, fees, 2_000, "fee", ("contract", 9), unique_ref="fee:contract:9"),
    ])
    assert settled[0].batch_id
    assert settled[0].batch_id == settled[1].batch_id
    assert [service.balance(db, a) for a in (wallet, escrow, seller_wallet)] == [20_000, 0, 78_000]
    before = _sum_of_balances(db), db.scalar(select(func.count()).select_from(LedgerTransfer))
    # The second leg would overdraw escrow: the first is not posted either.
    with pytest.raises(InvalidInput):
        service.transfers(db, SYSTEM, [service.Leg(wallet, escrow, 20_000, "escrow", ("contract", 10)),
                                       service.Leg(escrow, seller_wallet, 20_001, "settlement", ("contract", 10))])
    assert [service.balance(db, a) for a in (wallet, escrow, seller_wallet)] == [20_000, 0, 78_000]
    assert (_sum_of_balances(db), db.scalar(select(func.count()).select_from(LedgerTransfer))) == before
    with pytest.raises(Conflict):
        service.transfer(db, SYSTEM, debit=wallet, credit=fees, amount_fen=1, kind="fee", cause=("contract", 9),
                         unique_ref="fee:contract:9")
    assert [t.kind for t in service.transfers_by_cause(db, "contract", 9)] == ["escrow", "settlement", "fee"]


def test_a_loaded_account_object_shows_its_new_balance(db, make: Factories, operator: Actor) -> None:
    org = make.org()
    wallet = service.wallet_of(db, org.id)
    service.deposit(db, operator, org_id=org.id, amount_fen=500, bank_reference="L-1")
    assert wallet.balance_fen == 500


def test_transfers_cannot_be_changed_or_deleted_in_the_database(db, make: Factories, operator: Actor) -> None:
    org = make.org()
    posted = service.deposit(db, operator, org_id=org.id, amount_fen=500, bank_reference="I-1")
    db.flush()
    for statement in (update(LedgerTransfer).where(LedgerTransfer.id == posted.id).values(amount_fen=1),
                      delete(LedgerTransfer).where(LedgerTransfer.id == posted.id)):
        savepoint = db.begin_nested()
        with pytest.raises(DatabaseError, match="immutable"):
            db.execute(statement)
        savepoint.rollback()
    # And the database itself refuses a zero amount or an overdrawn wallet.
    for sql in ("INSERT INTO ledger_transfers (debit_account_id, credit_account_id, amount_fen, kind, cause_type, "
                "cause_id, memo, via, created_at, debit_balance_fen, credit_balance_fen) "
                "VALUES (1, 2, 0, 'x', 'x', 'x', '', 'x', CURRENT_TIMESTAMP, 0, 0)",
                f"UPDATE ledger_accounts SET balance_fen = -1 WHERE id = {service.wallet_of(db, org.id).id}"):
        savepoint = db.begin_nested()
        with pytest.raises(IntegrityError):
            db.execute(text(sql))
        savepoint.rollback()
