"""A single transfer that is refused writes nothing and leaves the caller's transaction usable.

On PostgreSQL one transfer is one statement (lock, check, update and insert together): these
check that each refusal it can give is the same as the separate statements of a batch give, on
both databases, and that the caller can go on in the same transaction afterwards (a statement
that failed would have aborted it on PostgreSQL).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.ledger import service
from qianshu.ledger.models import LedgerAccount, LedgerTransfer
from tests.factories import Factories


def _funded_wallets(db, make: Factories, operator: Actor, fen: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    payer, payee = make.org(), make.org()
    service.deposit(db, operator, org_id=payer.id, amount_fen=fen, bank_reference=f"B-{payer.id}")
    return service.wallet_id(db, payer.id), service.wallet_id(db, payee.id)


def _transfers(db) -> int:  # type: ignore[no-untyped-def]
    return int(db.scalar(select(func.count()).select_from(LedgerTransfer)))


def _pay(db, debit: int, credit: int, fen: int, ref: str | None = None) -> service.Transfer:  # type: ignore[no-untyped-def]
    return service.transfer(db, SYSTEM, debit=debit, credit=credit, amount_fen=fen, kind="payment",
                            cause=("test", 1), unique_ref=ref)


def test_a_posted_transfer_records_both_balances_right_after_it(db, make: Factories, operator: Actor) -> None:
    payer, payee = _funded_wallets(db, make, operator, 10_000)
    posted = _pay(db, payer, payee, 2_500)
    assert (posted.debit_balance_fen, posted.credit_balance_fen) == (7_500, 2_500)
    row = db.get(LedgerTransfer, posted.id)
    assert (row.debit_balance_fen, row.credit_balance_fen, row.amount_fen) == (7_500, 2_500, 2_500)
    assert (service.balance(db, payer), service.balance(db, payee)) == (7_500, 2_500)


def test_paying_more_than_the_balance_writes_nothing_and_the_transaction_goes_on(
        db, make: Factories, operator: Actor) -> None:
    payer, payee = _funded_wallets(db, make, operator, 10_000)
    before = _transfers(db)
    with pytest.raises(InvalidInput) as refused:
        _pay(db, payer, payee, 10_001)
    assert refused.value.code == "insufficient_funds"
    assert "¥100.00" in refused.value.render("en")
    assert _transfers(db) == before
    assert _pay(db, payer, payee, 10_000).debit_balance_fen == 0  # the same transaction, still usable


@pytest.mark.parametrize("side", ["debit", "credit"])
def test_an_unknown_account_is_a_404_naming_it_and_writes_nothing(db, make: Factories, operator: Actor,
                                                                  side: str) -> None:
    payer, payee = _funded_wallets(db, make, operator, 10_000)
    before = _transfers(db)
    with pytest.raises(NotFound) as unknown:
        _pay(db, 987_654_321 if side == "debit" else payer, 987_654_321 if side == "credit" else payee, 1)
    assert unknown.value.field == "account_id"
    assert "987654321" in unknown.value.render("en")
    assert _transfers(db) == before
    assert service.balance(db, payer) == 10_000


def test_a_balance_beyond_what_the_books_hold_is_refused_and_writes_nothing(
        db, make: Factories, operator: Actor) -> None:
    payer, payee = _funded_wallets(db, make, operator, 10_000)
    nearly_full = service.BALANCE_LIMIT - 50
    db.execute(update(LedgerAccount).where(LedgerAccount.id == payee).values(balance_fen=nearly_full))
    before = _transfers(db)
    with pytest.raises(InvalidInput) as refused:
        _pay(db, payer, payee, 100)
    assert refused.value.code == "balance_overflow"
    assert _transfers(db) == before
    assert (service.balance(db, payer), service.balance(db, payee)) == (10_000, nearly_full)
    assert _pay(db, payer, payee, 50).credit_balance_fen == service.BALANCE_LIMIT


def test_a_reference_posted_before_is_a_409_and_the_transaction_goes_on(db, make: Factories,
                                                                        operator: Actor) -> None:
    payer, payee = _funded_wallets(db, make, operator, 10_000)
    _pay(db, payer, payee, 100, ref="settle:contract-7")
    with pytest.raises(Conflict) as twice:
        _pay(db, payer, payee, 100, ref="settle:contract-7")
    assert twice.value.code == "duplicate_transfer"
    assert service.balance(db, payee) == 100
    assert _pay(db, payer, payee, 100, ref="settle:contract-8").credit_balance_fen == 200


def test_a_reference_longer_than_its_column_is_refused_not_cut(db, make: Factories, operator: Actor) -> None:
    payer, payee = _funded_wallets(db, make, operator, 10_000)
    before = _transfers(db)
    with pytest.raises(InvalidInput) as refused:
        _pay(db, payer, payee, 100, ref="r" * 161)
    assert refused.value.field == "unique_ref"
    assert _transfers(db) == before
    assert _pay(db, payer, payee, 100, ref="r" * 160).credit_balance_fen == 100
