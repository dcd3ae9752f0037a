"""Money under concurrency, on real commits (SQLite here; PostgreSQL with QIANSHU_TEST_DATABASE_URL):
concurrent payments never overdraw a wallet; concurrent settlements of one contract settle it once,
in-process and over real HTTP."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, update

from qianshu.accounts import service as accounts
from qianshu.accounts.schemas import TokenIn
from qianshu.catalog import service as catalog
from qianshu.catalog.follows import popularity
from qianshu.catalog.schemas import ListingIn, PlanIn
from qianshu.core.actor import Actor
from qianshu.core.db import Database
from qianshu.core.errors import Conflict
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.exchange import contracts as exchange_contracts
from qianshu.exchange import jobs, orders, payments
from qianshu.exchange.models import Contract
from qianshu.exchange.schemas import OrderIn
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerAccount, LedgerTransfer
from qianshu.registry.models import Registration
from qianshu.web.app import create_app
from tests.factories import Factories
from tests.web.live import live_server

PRICE = 50_000


def _trading(database: Database, contracts: int, funds: int, *, delivered: bool) -> dict[str, Any]:
    """Committed: a seller, a buyer with ``funds`` in its wallet, ``contracts`` active contracts
    (paid and delivered when ``delivered``), and a bearer token for the buyer."""
    with database.unit_of_work() as db:
        make = Factories(db)
        operator = make.actor(make.operator())
        seller_user, buyer_user = make.user(), make.user(organisation=make.org(org_type="buyer"))
        seller, buyer = make.actor(seller_user), make.actor(buyer_user)
        number = f"QS-DR-2026-{uuid.uuid4().int % 10**6:06d}"
        reg = Registration(holder_org_id=seller.org_id, status="issued", number=number,
                           title_zh="并发测试数据", title_en="Concurrency data", description_zh="", description_en="",
                           industry_code="G54", division_code="520102", update_frequency="daily",
                           classification="general", personal_info="none", row_count=10, column_count=2,
                           issued_at=utcnow())
        db.add(reg)
        db.flush()
        listing = catalog.create_listing(db, seller, ListingIn(registration_id=reg.id))
        catalog.add_plan(db, seller, listing.id, PlanIn(kind="one_time", price=str(PRICE // 100),
                                                        delivery_modes=["download"]))
        catalog.submit_listing(db, seller, listing.id)
        catalog.review_listing(db, operator, listing.id, "approve")
        ledger.deposit(db, operator, org_id=buyer.org_id or 0, amount_fen=funds, bank_reference=f"T-{uuid.uuid4().hex}")
        ids = []
        for _ in range(contracts):
            order = orders.place_order(db, buyer, OrderIn(listing_id=listing.id, plan_id=listing.plans[0].id,
                                                          purpose="research", scenario="并发付款与结算的测试场景"))
            contract = orders.accept_order(db, seller, order.id)
            exchange_contracts.sign(db, buyer, contract.id)
            exchange_contracts.sign(db, seller, contract.id)
            if delivered:
                payments.pay(db, buyer, contract.id)
                payments.deliver(db, seller, contract.id)
            ids.append(contract.id)
        _t, token = accounts.create_token(db, accounts.actor_for(buyer_user, via="api", ip="127.0.0.1"),
                                          TokenIn(name="c", scopes=["read", "write"]))
    return {"buyer": buyer, "seller": seller, "contracts": ids, "token": token}


def _race(n: int, work: Callable[[int], None]) -> tuple[int, list[BaseException]]:
    barrier, errors, done, lock = threading.Barrier(n), [], [0], threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i)
            with lock:
                done[0] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0], errors


def _books_balance(database: Database) -> None:
    with database.unit_of_work(write=False) as db:
        assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0


def test_concurrent_payments_never_overdraw_the_wallet(isolated_database: Database) -> None:
    trade = _trading(isolated_database, 6, 3 * PRICE, delivered=False)
    buyer: Actor = trade["buyer"]

    def pay(i: int) -> None:
        with isolated_database.unit_of_work() as db:
            payments.pay(db, buyer, trade["contracts"][i])

    done, errors = _race(6, pay)
    assert done == 3
    assert [e.code for e in errors] == ["insufficient_funds"] * 3, errors  # type: ignore[attr-defined]
    with isolated_database.unit_of_work(write=False) as db:
        assert ledger.balance(db, ledger.wallet_of(db, buyer.org_id or 0)) == 0
        statuses = sorted(db.scalars(select(Contract.payment_status)))
        assert statuses == ["escrowed"] * 3 + ["unpaid"] * 3
    _books_balance(isolated_database)


def test_concurrent_settlements_of_one_contract_settle_it_once(isolated_database: Database) -> None:
    """The buyer accepting twice at once while the periodic task accepts by itself: one settlement."""
    from qianshu.exchange.settings import ExchangeSettings

    trade = _trading(isolated_database, 1, PRICE, delivered=True)
    contract_id = trade["contracts"][0]
    with isolated_database.unit_of_work() as db:  # delivered long enough ago for the automatic acceptance
        contract = db.get_one(Contract, contract_id)
        contract.delivered_at = utcnow() - timedelta(days=30)
    settled: list[int] = []

    def settle(i: int) -> None:
        with isolated_database.unit_of_work() as db:
            if i % 2:
                payments.accept_delivery(db, trade["buyer"], contract_id)
                settled.append(1)
            else:
                settled.append(payments.auto_accept_due(db, ExchangeSettings()))

    _done, errors = _race(4, settle)
    assert sum(settled) == 1, (settled, errors)
    assert all(isinstance(e, Conflict) for e in errors), errors
    with isolated_database.unit_of_work(write=False) as db:
        seller_wallet = ledger.wallet_of(db, trade["seller"].org_id or 0)
        assert ledger.balance(db, seller_wallet) == PRICE - 1_250
        settlements = db.scalar(select(func.count()).select_from(LedgerTransfer)
                                .where(LedgerTransfer.kind == "settlement"))
        assert settlements == 1
    _books_balance(isolated_database)


def test_concurrent_settlements_over_http_settle_once(isolated_database: Database, tmp_path: Path) -> None:
    trade = _trading(isolated_database, 1, PRICE, delivered=True)
    contract_id = trade["contracts"][0]
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False)
    app = create_app(settings, database=isolated_database)
    statuses: list[int] = []
    with live_server(app) as url:
        def accept(i: int) -> None:
            r = httpx.post(f"{url}/api/v1/exchange/contracts/{contract_id}/accept-delivery",
                           headers={"Authorization": f"Bearer {trade['token']}", "Idempotency-Key": f"k-{i}"},
                           timeout=60)
            statuses.append(r.status_code)

        _done, errors = _race(4, accept)
        assert not errors, errors
        # the same key again: the first answer, nothing moved
        again = httpx.post(f"{url}/api/v1/exchange/contracts/{contract_id}/accept-delivery",
                           headers={"Authorization": f"Bearer {trade['token']}", "Idempotency-Key": "k-0"}, timeout=60)
        assert again.headers["Idempotent-Replayed"] == "true"
    assert sorted(statuses) == [200, 409, 409, 409], statuses
    with isolated_database.unit_of_work(write=False) as db:
        assert db.scalar(select(func.count()).select_from(LedgerTransfer)
                         .where(LedgerTransfer.kind == "settlement")) == 1
    _books_balance(isolated_database)


def test_many_settlements_at_once_book_every_fee_and_leaf_once(isolated_database: Database) -> None:
    """Different contracts of one seller settled at once: they meet on the seller's wallet, the fee
    account and the log's sequencer, which a settlement takes last (escrow.settle); every
    settlement is booked once, the balances are the sums, each has its leaf, the log verifies and
    the product counts every one."""
    from qianshu.catalog.models import Listing
    from qianshu.exchange.models import TimelineEntry
    from qianshu.translog.service import get_leaf
    from qianshu.translog.verify import verify_log

    n = 6
    trade = _trading(isolated_database, n, n * PRICE, delivered=True)

    def settle(i: int) -> None:
        with isolated_database.unit_of_work() as db:
            payments.accept_delivery(db, trade["buyer"], trade["contracts"][i])

    done, errors = _race(n, settle)
    assert (done, errors) == (n, [])
    fee = payments.fee_of(PRICE, 250)
    with isolated_database.unit_of_work(write=False) as db:
        assert ledger.balance(db, ledger.wallet_of(db, trade["seller"].org_id or 0)) == n * (PRICE - fee)
        assert ledger.balance(db, ledger.fee_account(db)) == n * fee
        for contract_id in trade["contracts"]:
            kinds = sorted(t.kind for t in ledger.transfers_by_cause(db, "contract", contract_id))
            assert kinds == ["escrow", "fee", "settlement"]
            step = db.scalars(select(TimelineEntry).where(TimelineEntry.contract_id == contract_id,
                                                          TimelineEntry.step == "settled")).one()
            leaf = get_leaf(db, int(step.detail["log_index"]))
            assert leaf.event_type == "exchange.contract_settled"
        indexes = db.scalars(select(TimelineEntry.detail["log_index"].as_integer())
                             .where(TimelineEntry.step == "settled")).all()
        assert len(set(indexes)) == n
        assert verify_log(db, None).ok
        # no settlement locked the product's row; its count of sales comes from the schedule's recount
        listing_id = db.get_one(Contract, trade["contracts"][0]).listing_id
        assert db.get_one(Listing, listing_id).transaction_count == 0
    assert jobs.count_sales(isolated_database, Settings()) == 1
    assert jobs.count_sales(isolated_database, Settings()) == 0  # nothing new: nothing written
    with isolated_database.unit_of_work() as db:
        listing = db.get_one(Listing, listing_id)
        assert listing.transaction_count == n
        assert listing.popularity == popularity(listing)
        listing_version = listing.version
        # a count gone wrong (a restore, a hand edit) is recounted, not added to
        db.execute(update(Listing).where(Listing.id == listing_id).values(transaction_count=n + 5))
    assert jobs.count_sales(isolated_database, Settings()) == 1
    with isolated_database.unit_of_work(write=False) as db:
        listing = db.get_one(Listing, listing_id)
        assert listing.transaction_count == n
        assert listing.version == listing_version  # an editor of the product sees no false conflict
    _books_balance(isolated_database)
