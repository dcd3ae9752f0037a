"""Concurrent transfers from one wallet, on real commits: never overdrawn, the books sum to zero."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from qianshu.accounts.models import Organisation
from qianshu.core.actor import SYSTEM
from qianshu.core.db import Database
from qianshu.core.errors import InvalidInput
from qianshu.ledger import service
from qianshu.ledger.models import LedgerAccount, LedgerTransfer
from tests.factories import make_uscc

THREADS = 8
EACH = 15
AMOUNT = 7
FUNDS = 500  # room for 71 transfers of 7 fen, of the 120 tried


def _org(db, n: int) -> int:  # type: ignore[no-untyped-def]
    org = Organisation(name=f"并发测试{n}", org_type="buyer", uscc=make_uscc(), division_code="520102",
                       contact_name="x", contact_email=f"c{n}@x.cn", contact_phone="1", status="approved")
    db.add(org)
    db.flush()
    return org.id


def test_concurrent_transfers_from_one_wallet_never_overdraw_it(isolated_database: Database) -> None:
    with isolated_database.unit_of_work() as db:
        payer = _org(db, 0)
        payees = [_org(db, n) for n in range(1, THREADS + 1)]
        payer_wallet = service.wallet_of(db, payer).id
        payee_wallets = [service.wallet_of(db, p).id for p in payees]
        service.transfer(db, SYSTEM, debit=service.bank_clearing_account(db), credit=payer_wallet,
                         amount_fen=FUNDS, kind="deposit", cause=("bank_transfer", "T-0"))
    done, refused, errors = [0], [0], []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def pay(payee_wallet: int) -> None:
        start.wait()
        for _ in range(EACH):
            try:
                with isolated_database.unit_of_work() as db:
                    service.transfer(db, SYSTEM, debit=payer_wallet, credit=payee_wallet, amount_fen=AMOUNT,
                                     kind="payment", cause=("test", payee_wallet))
                with lock:
                    done[0] += 1
            except InvalidInput as exc:
                with lock:
                    refused[0] += exc.code == "insufficient_funds"
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=pay, args=(w,)) for w in payee_wallets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert done[0] == FUNDS // AMOUNT
    assert refused[0] == THREADS * EACH - done[0]
    with isolated_database.unit_of_work(write=False) as db:
        assert service.balance(db, payer_wallet) == FUNDS % AMOUNT
        assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0
        received = sum(service.balance(db, w) for w in payee_wallets)
        assert received == done[0] * AMOUNT
        moved = db.scalar(select(func.count()).select_from(LedgerTransfer).where(LedgerTransfer.kind == "payment"))
        assert moved == done[0]


def test_one_reference_posted_by_two_transactions_at_once_is_posted_once(isolated_database: Database) -> None:
    with isolated_database.unit_of_work() as db:
        payer, payee = _org(db, 100), _org(db, 101)
        source, target = service.wallet_of(db, payer).id, service.wallet_of(db, payee).id
        service.transfer(db, SYSTEM, debit=service.bank_clearing_account(db), credit=source, amount_fen=1_000,
                         kind="deposit", cause=("bank_transfer", "T-1"))
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def settle() -> None:
        barrier.wait()
        try:
            with isolated_database.unit_of_work() as db:
                service.transfer(db, SYSTEM, debit=source, credit=target, amount_fen=300, kind="settlement",
                                 cause=("contract", 1), unique_ref="settle:contract:1")
            outcomes.append("posted")
        except Exception as exc:
            outcomes.append(getattr(exc, "code", type(exc).__name__))

    threads = [threading.Thread(target=settle) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["duplicate_transfer"] * 3 + ["posted"]
    with isolated_database.unit_of_work(write=False) as db:
        assert service.balance(db, source) == 700
        assert service.balance(db, target) == 300
        assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0
