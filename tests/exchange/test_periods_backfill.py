"""Migration 0036 on a database at 0034: renewals booked by the code before 0034 (straight to the
seller, no period row) become settled periods, as the pages, refund requests and statistics expect;
an open refund request gets its item key. SQLite here; PostgreSQL with QIANSHU_TEST_DATABASE_URL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session, defer, joinedload

from qianshu.core.actor import SYSTEM
from qianshu.core.db import Database
from qianshu.core.migrate import alembic_config, check, upgrade
from qianshu.core.timeutil import as_utc, utcnow
from qianshu.exchange import refunds, renewals
from qianshu.exchange.models import Contract, ContractPeriod, Order, RefundRequest
from qianshu.exchange.service import record_step
from qianshu.exchange.settings import ExchangeSettings
from qianshu.exchange.statistics import _money
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerAccount, LedgerTransfer
from tests.exchange.test_renewals import FEE, PRICE, _committed
from tests.factories import Factories


def _legacy_renewal(db: Session, contract: Contract, at: datetime, until: datetime) -> None:
    """What ``_renew`` booked before 0034: the price straight to the seller less the fee, the fee
    added to the contract's, a ``renewed`` entry without a period."""
    ref = f"renew:contract:{contract.id}:{(until - timedelta(days=30)).date().isoformat()}"
    buyer = ledger.wallet_of(db, contract.buyer_org_id)
    ledger.transfers(db, SYSTEM, [
        ledger.Leg(buyer, ledger.wallet_of(db, contract.seller_org_id), PRICE - FEE, "renewal",
                   ("contract", contract.id), contract.number, ref),
        ledger.Leg(buyer, ledger.fee_account(db), FEE, "fee", ("contract", contract.id), contract.number, f"fee:{ref}"),
    ], at=at)
    contract.fee_fen += FEE
    db.flush()
    record_step(db, SYSTEM, contract.order, "renewed", contract, at=at, amount_fen=PRICE, fee_fen=FEE,
                until=until.isoformat(timespec="seconds"))


def _at_0034(db: Session, contract_id: int) -> Contract:
    """A contract and its order loaded with only the columns the tables had at 0034."""
    options: dict[type[Any], list[Any]] = {}
    for model in (Contract, Order):
        present = {c["name"] for c in inspect(db.connection()).get_columns(model.__tablename__)}
        options[model] = [defer(attribute) for attribute in model.__mapper__.column_attrs
                          if attribute.columns[0].name not in present]
    return db.get_one(Contract, contract_id,
                      options=[*options[Contract], joinedload(Contract.order).options(*options[Order])])


def test_renewals_before_0034_become_settled_periods(isolated_database: Database) -> None:
    legacy, mixed = _committed(isolated_database), _committed(isolated_database)
    with isolated_database.unit_of_work() as db:
        first = db.get_one(Contract, legacy["contract"])
        first.ends_at = utcnow() + timedelta(days=10)  # not due now: renewed only by the old code below
        db.flush()
        assert renewals.renew_due(db, ExchangeSettings()) == (1, 0)  # the mixed one: period 2 since 0034
        # the mixed one's price is asked back: open at 0034 (one open request per contract then)
        opened = refunds.request_refund(db, mixed["buyer"], mixed["contract"], 500, "首月缺数据").id
        operator = Factories(db).actor(Factories(db).operator())
        ledger.deposit(db, operator, org_id=first.buyer_org_id, amount_fen=2 * PRICE, bank_reference="T-legacy")
        ledger.deposit(db, operator, org_id=mixed["buyer"].org_id or 0, amount_fen=PRICE, bank_reference="T-mixed")
    url = isolated_database.url
    command.downgrade(alembic_config(url), "0034_exchange_renewals")
    isolated_database.engine.dispose()
    columns = {c["name"] for c in inspect(isolated_database.engine).get_columns("exchange_refund_requests")}
    assert "open_item" not in columns
    isolated_database.engine.dispose()
    with isolated_database.unit_of_work() as db:  # the code before 0034 renewed them (in the past)
        # today's models hold columns later migrations add: leave those out while the schema is at 0034
        first = _at_0034(db, legacy["contract"])
        end = as_utc(first.ends_at)  # type: ignore[arg-type]
        start = utcnow() - timedelta(days=2)  # within the refund window of its settlement
        _legacy_renewal(db, first, start, end + timedelta(days=30))
        _legacy_renewal(db, first, start + timedelta(days=1), end + timedelta(days=60))
        first.ends_at = end + timedelta(days=60)
        other = _at_0034(db, mixed["contract"])
        period_2 = db.scalars(select(ContractPeriod).where(ContractPeriod.contract_id == other.id)).one()
        _legacy_renewal(db, other, start, as_utc(period_2.starts_at))  # the period before period 2
    upgrade(url)
    check(url)
    isolated_database.engine.dispose()
    with isolated_database.unit_of_work(write=False) as db:
        first = db.get_one(Contract, legacy["contract"])
        rows = renewals.periods_of(db, first)
        assert [(p.number, p.payment_status, p.price_fen, p.fee_fen) for p in rows] == [
            (2, "settled", PRICE, FEE), (3, "settled", PRICE, FEE)]
        assert as_utc(rows[1].ends_at) == as_utc(first.ends_at)  # type: ignore[arg-type]
        assert as_utc(rows[0].ends_at) == as_utc(rows[1].starts_at)
        assert first.fee_fen == FEE  # the first period's only: each renewal's fee is on its period
        keys = [i.key for i in refunds.refundable_items(db, first, ExchangeSettings())]
        assert keys == ["period-1", "period-2", "period-3"]  # a legacy renewal may now be asked back
        other = db.get_one(Contract, mixed["contract"])
        assert other.fee_fen == FEE
        both = renewals.periods_of(db, other)
        # period 2 (since 0034) keeps its number (it is in the ledger and the log); the earlier one is 3
        assert [(p.number, p.payment_status) for p in both] == [(3, "settled"), (2, "escrowed")]
        request = db.get_one(RefundRequest, opened)
        assert (request.status, request.open_item) == ("pending", f"{other.id}:period-1")
        money = [(part, amount) for part, cid, _at, amount in _money(db) if cid in (first.id, other.id)]
        assert sorted(money) == sorted([("prices", PRICE)] * 2 + [("renewals", PRICE)] * 4)
        renewed_fen = db.scalar(select(func.sum(LedgerTransfer.amount_fen)).where(
            LedgerTransfer.unique_ref.like("renew:contract:%")))
        assert renewed_fen == 3 * (PRICE - FEE)  # the ledger as it was booked, untouched
    with isolated_database.unit_of_work() as db:  # the next renewal of the first is numbered 4
        first = db.get_one(Contract, legacy["contract"])
        assert first.ends_at is not None
        # (the mixed one is due then too, and lapses: its buyer's wallet paid the old renewal)
        assert renewals.renew_due(db, ExchangeSettings(), now=as_utc(first.ends_at) - timedelta(hours=2)) == (1, 1)
        assert [p.number for p in renewals.periods_of(db, first)] == [2, 3, 4]
    # upgrading again after a downgrade adds nothing twice
    command.downgrade(alembic_config(url), "0034_exchange_renewals")
    upgrade(url)
    isolated_database.engine.dispose()
    with isolated_database.unit_of_work(write=False) as db:
        assert db.scalar(select(func.count()).select_from(ContractPeriod)) == 5
        assert db.get_one(Contract, legacy["contract"]).fee_fen == FEE
        assert db.get_one(RefundRequest, opened).open_item == f"{mixed['contract']}:period-1"
        assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0
