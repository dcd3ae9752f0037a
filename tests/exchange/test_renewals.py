"""Renewed periods of subscriptions: escrow, delivery, acceptance (or by itself), dispute and
settlement as for the first period; refund requests of a renewed period and of a paid usage bill.
In one transaction per test, and on real commits with threads and over real HTTP (SQLite here;
PostgreSQL with QIANSHU_TEST_DATABASE_URL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.accounts.models import User
from qianshu.accounts.schemas import TokenIn
from qianshu.catalog import service as catalog
from qianshu.catalog.schemas import ListingIn, PlanIn
from qianshu.core import inbox
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.db import Database
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.exchange import bills, contracts, orders, payments, refunds, renewals, trades
from qianshu.exchange.models import Contract, ContractPeriod, TimelineEntry, UsageBill
from qianshu.exchange.schemas import OrderIn
from qianshu.exchange.settings import ExchangeSettings
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerAccount, LedgerTransfer
from qianshu.registry.models import Registration
from qianshu.web.app import create_app
from tests.exchange.test_concurrency import _race
from tests.exchange.test_refund_bills_pages import _as, _post
from tests.factories import Factories
from tests.web.live import live_server

PRICE = 10_000  # 100 yuan a month
FEE = 250


def _wallet(db: Session, org_id: int | None) -> int:
    return ledger.balance(db, ledger.wallet_of(db, org_id or 0))


def _balanced(db: Session) -> None:
    assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0


def _subscription(
    db: Session, buyer: Actor, merchant: Actor, signed: Callable[..., Contract], fund: Any, extra: int = PRICE
) -> Contract:
    """A monthly subscription whose first period settled, the buyer holding ``extra`` more."""
    contract = signed(plans=[PlanIn(kind="monthly", price=str(PRICE // 100), delivery_modes=["api"])])
    fund(buyer, PRICE + extra)
    payments.pay(db, buyer, contract.id)
    payments.deliver(db, merchant, contract.id)
    payments.accept_delivery(db, buyer, contract.id)
    return contract


def _renewed(db: Session, contract: Contract) -> ContractPeriod:
    first_end = contract.ends_at
    assert first_end is not None
    assert renewals.renew_due(db, ExchangeSettings(), now=first_end - timedelta(hours=2)) == (1, 0)
    return renewals.get_period(db, contract, 2)


def test_a_renewal_goes_into_escrow_and_settles_on_acceptance(
    db: Session, buyer: Actor, merchant: Actor, signed: Callable[..., Contract], fund: Any
) -> None:
    contract = _subscription(db, buyer, merchant, signed, fund)
    first_end = contract.ends_at
    assert first_end is not None
    period = _renewed(db, contract)
    assert (period.payment_status, period.price_fen, period.starts_at) == ("escrowed", PRICE, first_end)
    assert contract.ends_at == first_end + timedelta(days=30) == period.ends_at
    assert _wallet(db, buyer.org_id) == 0
    assert _wallet(db, merchant.org_id) == PRICE - FEE  # the first period only: the second waits in escrow
    # run again (the job twice): nothing more is charged
    assert renewals.renew_due(db, ExchangeSettings(), now=first_end - timedelta(hours=1)) == (0, 0)
    assert contracts.contract_is_active(db, contract.id, "api", at=first_end + timedelta(days=3))
    assert trades.next_steps(db, merchant).deliveries_to_make == 1
    notes = [inbox.render(n, "zh") for n in inbox.inbox(db, merchant)]
    assert any("第 2 期已付入托管账户" in n for n in notes), notes
    with pytest.raises(Conflict):  # not delivered yet
        renewals.accept_delivery(db, buyer, contract.id, period=2)
    renewals.deliver(db, merchant, contract.id, period=2)
    assert trades.next_steps(db, buyer).deliveries_to_confirm == 1
    renewals.accept_delivery(db, buyer, contract.id, period=2)
    assert (period.payment_status, period.fee_fen) == ("settled", FEE)
    assert _wallet(db, merchant.org_id) == 2 * (PRICE - FEE)
    with pytest.raises(Conflict):  # settled once
        renewals.accept_delivery(db, buyer, contract.id, period=2)
    steps = [
        (t.step, t.detail.get("period"))
        for t in db.scalars(
            select(TimelineEntry).where(TimelineEntry.contract_id == contract.id).order_by(TimelineEntry.id)
        )
    ]
    assert steps[-4:] == [("renewed", 2), ("delivered", 2), ("delivery_accepted", 2), ("settled", 2)]
    assert [p.number for p in renewals.periods_of(db, contract)] == [2]
    _balanced(db)


def test_a_delivered_period_is_accepted_by_itself_after_the_same_days(
    db: Session, buyer: Actor, merchant: Actor, signed: Callable[..., Contract], fund: Any
) -> None:
    contract = _subscription(db, buyer, merchant, signed, fund)
    period = _renewed(db, contract)
    renewals.deliver(db, merchant, contract.id, period=2)
    settings = ExchangeSettings(auto_accept_days=7)
    assert renewals.auto_accept_due(db, settings, now=utcnow() + timedelta(days=6)) == 0
    assert renewals.auto_accept_due(db, settings, now=utcnow() + timedelta(days=8)) == 1
    assert period.payment_status == "settled"
    assert _wallet(db, merchant.org_id) == 2 * (PRICE - FEE)
    _balanced(db)


def test_a_period_is_disputed_and_decided_by_the_operator(
    db: Session, buyer: Actor, merchant: Actor, operator: Actor, signed: Callable[..., Contract], fund: Any
) -> None:
    contract = _subscription(db, buyer, merchant, signed, fund)
    period = _renewed(db, contract)
    renewals.deliver(db, merchant, contract.id, period=2)
    dispute = renewals.raise_dispute(db, buyer, contract.id, "第二个月的数据缺少三天", period=2)
    assert (dispute.period_number, period.payment_status, contract.payment_status) == (2, "disputed", "settled")
    assert renewals.auto_accept_due(db, ExchangeSettings(), now=utcnow() + timedelta(days=30)) == 0
    assert trades.next_steps(db, operator).disputes == 1
    with pytest.raises(InvalidInput):  # more than the period's escrow
        payments.decide_dispute(db, operator, dispute.id, "partial_refund", "部分退款", PRICE + 1)
    payments.decide_dispute(db, operator, dispute.id, "partial_refund", "缺三天，退一成", 1_000)
    assert (dispute.status, dispute.refund_fen) == ("decided", 1_000)
    assert (period.payment_status, period.refunded_fen, period.fee_fen) == ("settled", 1_000, 225)
    assert _wallet(db, buyer.org_id) == 1_000
    assert _wallet(db, merchant.org_id) == (PRICE - FEE) + (9_000 - 225)
    assert contract.refunded_fen == 0  # the first period's price is untouched
    with pytest.raises(Conflict):
        payments.decide_dispute(db, operator, dispute.id, "release", "再裁一次")
    notes = [inbox.render(n, "en") for n in inbox.inbox(db, buyer)]
    assert any("The dispute over period 2 of contract" in n for n in notes), notes
    _balanced(db)


def test_a_fully_refunded_period_ends_access_and_does_not_renew(
    db: Session, buyer: Actor, merchant: Actor, signed: Callable[..., Contract], fund: Any
) -> None:
    contract = _subscription(db, buyer, merchant, signed, fund)
    period = _renewed(db, contract)
    renewals.refund(db, merchant, contract.id, PRICE, "本月停止服务", period=2)
    assert (period.payment_status, _wallet(db, buyer.org_id)) == ("refunded", PRICE)
    assert not contracts.contract_is_active(db, contract.id, "api", at=period.starts_at + timedelta(days=1))
    assert renewals.renew_due(db, ExchangeSettings(), now=period.ends_at) == (0, 1)
    assert contract.renews is False
    _balanced(db)


def test_a_short_wallet_at_renewal_lapses_with_a_notice(
    db: Session, buyer: Actor, merchant: Actor, signed: Callable[..., Contract], fund: Any
) -> None:
    contract = _subscription(db, buyer, merchant, signed, fund, extra=PRICE - 1)
    assert renewals.renew_due(db, ExchangeSettings(), now=contract.ends_at) == (0, 1)
    assert renewals.periods_of(db, contract) == []
    assert _wallet(db, buyer.org_id) == PRICE - 1  # nothing moved
    assert any("不再续期" in inbox.render(n, "zh") for n in inbox.inbox(db, buyer))


def test_refund_requests_of_a_renewed_period_and_of_a_usage_bill(
    db: Session, buyer: Actor, merchant: Actor, operator: Actor, signed: Callable[..., Contract], fund: Any
) -> None:
    contract = _subscription(db, buyer, merchant, signed, fund)
    _renewed(db, contract)
    with pytest.raises(Conflict) as early:  # period 2 not settled yet
        refunds.request_refund(db, buyer, contract.id, 100, "未交付", period=2)
    assert "第 2 期" in early.value.render("zh")
    renewals.deliver(db, merchant, contract.id, period=2)
    renewals.accept_delivery(db, buyer, contract.id, period=2)
    keys = [i.key for i in refunds.refundable_items(db, contract, ExchangeSettings())]
    assert keys == ["period-1", "period-2"]
    with pytest.raises(InvalidInput) as too_much:
        refunds.request_refund(db, buyer, contract.id, PRICE + 1, "太多", period=2)
    assert too_much.value.field == "amount_fen"
    asked = refunds.request_refund(db, buyer, contract.id, 4_000, "第二个月数据质量差", period=2)
    refunds.answer_refund(db, merchant, asked.id, True)
    period = renewals.get_period(db, contract, 2)
    assert (period.refunded_fen, period.fee_fen) == (4_000, FEE - 100)
    assert contract.refunded_fen == 0
    assert contract.payment_status == "settled"
    assert _wallet(db, buyer.org_id) == 4_000
    with pytest.raises(InvalidInput):  # what is left of period 2
        refunds.request_refund(db, buyer, contract.id, 6_001, "再退", period=2)
    # past the window of period 2's settlement
    late = (period.settled_at or utcnow()) + timedelta(days=31)
    with pytest.raises(Conflict):
        refunds.request_refund(db, buyer, contract.id, 100, "晚了", period=2, at=late)

    # a metered contract's paid bill
    metered = signed(plans=[PlanIn(kind="per_call", price="0.02", delivery_modes=["api"])])
    fund(buyer, 100_000)
    payments.record_usage(db, SYSTEM, metered.id, "r-1", 5_000)
    payments.bill_usage_due(db, ExchangeSettings(), now=utcnow() + timedelta(days=40))
    bill = db.scalars(select(UsageBill).where(UsageBill.contract_id == metered.id)).one()
    assert (bill.status, bill.amount_fen, bill.fee_fen) == ("charged", 10_000, 250)
    asked = refunds.request_refund(db, buyer, metered.id, 400, "重复调用被计费", bill_id=bill.id)
    assert asked.bill_id == bill.id
    refunds.answer_refund(db, merchant, asked.id, False, "调用均有效")
    refunds.escalate(db, buyer, asked.id)
    refunds.decide_refund(db, operator, asked.id, True, "确有重复调用", 200)
    assert (bill.refunded_fen, asked.status) == (200, "granted")
    assert bills.contract_bills(db, buyer, metered.id)[0].refunded_fen == 200
    with pytest.raises(InvalidInput):
        refunds.request_refund(db, buyer, metered.id, bill.amount_fen - 199, "全部", bill_id=bill.id)
    with pytest.raises(NotFound) as stranger:  # another contract's bill
        refunds.request_refund(db, buyer, contract.id, 1, "别的账单", bill_id=bill.id)
    assert getattr(stranger.value, "status", 0) == 404
    _balanced(db)


def test_renewed_periods_in_the_portal(
    client: Any, db: Session, buyer: Actor, merchant: Actor, signed: Callable[..., Contract], fund: Any
) -> None:
    contract = _subscription(db, buyer, merchant, signed, fund)
    _renewed(db, contract)
    db.flush()
    url = f"/exchange/contracts/{contract.id}"
    _as(client, db, merchant)
    page = client.get(url).text
    assert 'id="periods"' in page
    assert "续期各期" in page
    assert 'class="deliver-period"' in page
    assert _post(client, f"{url}/deliver", {"period": "2"}).status_code == 303
    assert _post(client, f"{url}/deliver", {"period": "2"}).status_code == 409  # a double submit
    _as(client, db, buyer)
    client.get("/lang/en")
    page = client.get(url).text
    assert "Renewed periods" in page
    assert 'class="accept-period"' in page
    assert 'class="dispute-period"' in page
    assert _post(client, f"{url}/accept-delivery", {"period": "2"}).status_code == 303
    page = client.get(url).text
    assert 'value="period-2"' in page
    assert "Price of period 2" in page
    assert (
        _post(client, f"{url}/request-refund", {"item": "period-2", "amount": "10", "reason": "少一天"}).status_code
        == 303
    )
    page = client.get(url).text
    assert "period 2" in page
    assert page.count("· period 2") >= 4  # the timeline: renewed, delivered, accepted, settled
    assert renewals.get_period(db, contract, 2).payment_status == "settled"
    # one open request per item: period 2's is open, the price may still be asked
    assert 'value="period-2"' not in page
    assert 'value="period-1"' in page
    assert (
        _post(client, f"{url}/request-refund", {"item": "period-1", "amount": "20", "reason": "首月缺数据"}).status_code
        == 303
    )
    assert 'id="request-refund"' not in client.get(url).text  # both items have an open request
    _as(client, db, merchant)
    page = client.get(url).text
    second = max(r.id for r in refunds.requests_of(db, contract))
    assert 'id="answer-refund"' in page
    assert f'id="answer-refund-{second}"' in page  # a form for each open request
    assert _post(client, f"{url}/answer-refund", {"request_id": second, "answer": "accept", "reason": ""}
                 ).status_code == 303
    db.refresh(contract)
    assert (contract.refunded_fen, renewals.get_period(db, contract, 2).refunded_fen) == (2_000, 0)


# --- on real commits: two workers, a dispute racing the automatic acceptance, real HTTP -----------


def _committed(database: Database) -> dict[str, Any]:
    """Committed: a monthly subscription whose first period settled, its term ending within a day,
    the buyer holding one more period's price; tokens for both parties."""
    with database.unit_of_work() as db:
        make = Factories(db)
        operator = make.actor(make.operator())
        seller_user, buyer_user = make.user(), make.user(organisation=make.org(org_type="buyer"))
        seller, buyer = make.actor(seller_user), make.actor(buyer_user)
        reg = Registration(
            holder_org_id=seller.org_id,
            status="issued",
            number=f"QS-DR-2026-{uuid.uuid4().int % 10**6:06d}",
            title_zh="续期测试数据",
            title_en="Renewal data",
            description_zh="",
            description_en="",
            industry_code="G54",
            division_code="520102",
            update_frequency="daily",
            classification="general",
            personal_info="none",
            row_count=10,
            column_count=2,
            issued_at=utcnow(),
        )
        db.add(reg)
        db.flush()
        listing = catalog.create_listing(db, seller, ListingIn(registration_id=reg.id))
        catalog.add_plan(
            db, seller, listing.id, PlanIn(kind="monthly", price=str(PRICE // 100), delivery_modes=["api"])
        )
        catalog.submit_listing(db, seller, listing.id)
        catalog.review_listing(db, operator, listing.id, "approve")
        ledger.deposit(
            db, operator, org_id=buyer.org_id or 0, amount_fen=2 * PRICE, bank_reference=f"T-{uuid.uuid4().hex}"
        )
        order = orders.place_order(
            db,
            buyer,
            OrderIn(
                listing_id=listing.id,
                plan_id=listing.plans[0].id,
                purpose="research",
                scenario="订阅续期并发测试的场景",
            ),
        )
        contract = orders.accept_order(db, seller, order.id)
        contracts.sign(db, buyer, contract.id)
        contracts.sign(db, seller, contract.id)
        payments.pay(db, buyer, contract.id)
        payments.deliver(db, seller, contract.id)
        payments.accept_delivery(db, buyer, contract.id)
        contract.ends_at = utcnow() + timedelta(hours=2)
        tokens = {}
        for name, user in (("buyer", buyer_user), ("seller", seller_user)):
            _t, tokens[name] = accounts.create_token(
                db, accounts.actor_for(user, via="api", ip="127.0.0.1"), TokenIn(name=name, scopes=["read", "write"])
            )
        return {"contract": contract.id, "buyer": buyer, "seller": seller, "tokens": tokens}


def _check_books(database: Database, contract_id: int) -> None:
    with database.unit_of_work(write=False) as db:
        assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0
        escrows = db.scalar(
            select(func.count())
            .select_from(LedgerTransfer)
            .where(LedgerTransfer.unique_ref.like(f"pay:contract:{contract_id}:period:%"))
        )
        assert escrows == 1


def test_two_workers_renewing_at_once_charge_once(isolated_database: Database) -> None:
    trade = _committed(isolated_database)
    results: list[tuple[int, int]] = []

    def run(_i: int) -> None:
        with isolated_database.unit_of_work() as db:
            results.append(renewals.renew_due(db, ExchangeSettings()))

    _done, errors = _race(3, run)
    assert not [e for e in errors if not isinstance(e, Conflict)], errors
    assert sum(r[0] for r in results) == 1, (results, errors)
    assert sum(r[1] for r in results) == 0
    with isolated_database.unit_of_work(write=False) as db:
        assert db.scalar(select(func.count()).select_from(ContractPeriod)) == 1
        assert _wallet(db, trade["buyer"].org_id) == 0  # two periods paid, the second once
    _check_books(isolated_database, trade["contract"])


def test_a_dispute_racing_the_automatic_acceptance_has_one_outcome(isolated_database: Database) -> None:
    trade = _committed(isolated_database)
    contract_id = trade["contract"]
    with isolated_database.unit_of_work() as db:
        renewals.renew_due(db, ExchangeSettings())
        renewals.deliver(db, trade["seller"], contract_id, period=2)
        db.get_one(ContractPeriod, renewals.get_period(db, db.get_one(Contract, contract_id), 2).id).delivered_at = (
            utcnow() - timedelta(days=30)
        )
    outcomes: list[str] = []

    def step(i: int) -> None:
        with isolated_database.unit_of_work() as db:
            if i % 2:
                renewals.raise_dispute(db, trade["buyer"], contract_id, "数据不完整", period=2)
                outcomes.append("disputed")
            elif renewals.auto_accept_due(db, ExchangeSettings()):
                outcomes.append("settled")

    _done, errors = _race(4, step)
    assert len(outcomes) == 1, (outcomes, errors)
    assert all(isinstance(e, Conflict) for e in errors), errors
    with isolated_database.unit_of_work(write=False) as db:
        period = db.scalars(select(ContractPeriod)).one()
        assert period.payment_status == outcomes[0]
        settled = db.scalar(
            select(func.count())
            .select_from(LedgerTransfer)
            .where(LedgerTransfer.unique_ref == f"settle:contract:{contract_id}:period:2")
        )
        assert settled == (1 if outcomes[0] == "settled" else 0)
    _check_books(isolated_database, contract_id)


def test_accepting_and_disputing_a_period_at_once_over_http(isolated_database: Database, tmp_path: Path) -> None:
    trade = _committed(isolated_database)
    contract_id = trade["contract"]
    with isolated_database.unit_of_work() as db:
        renewals.renew_due(db, ExchangeSettings())
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=isolated_database.url,
        secret_key="test-secret-" + "x" * 32,
        run_jobs_in_process=False,
    )
    app = create_app(settings, database=isolated_database)
    base = "/api/v1/exchange"
    as_buyer = {"Authorization": f"Bearer {trade['tokens']['buyer']}"}
    as_seller = {"Authorization": f"Bearer {trade['tokens']['seller']}"}
    answers: list[httpx.Response] = []
    with live_server(app) as url:
        periods = httpx.get(f"{url}{base}/contracts/{contract_id}/periods", headers=as_buyer, timeout=60).json()
        assert [(p["number"], p["payment_status"]) for p in periods] == [(2, "escrowed")]
        delivered = [
            httpx.post(
                f"{url}{base}/contracts/{contract_id}/deliver",
                headers={**as_seller, "Idempotency-Key": "d-1"},
                json={"period": 2},
                timeout=60,
            )
            for _ in range(2)
        ]  # the same key twice: the first answer again
        assert [r.status_code for r in delivered] == [200, 200]
        assert delivered[1].headers.get("Idempotent-Replayed") == "true"

        def act(i: int) -> None:
            if i % 2:
                answers.append(
                    httpx.post(
                        f"{url}{base}/contracts/{contract_id}/disputes",
                        headers={**as_buyer, "Idempotency-Key": f"x-{i}", "Accept-Language": "zh"},
                        json={"reason": "数据不完整", "period": 2},
                        timeout=60,
                    )
                )
            else:
                answers.append(
                    httpx.post(
                        f"{url}{base}/contracts/{contract_id}/accept-delivery",
                        headers={**as_buyer, "Idempotency-Key": f"x-{i}", "Accept-Language": "zh"},
                        json={"period": 2},
                        timeout=60,
                    )
                )

        _done, errors = _race(4, act)
        assert not errors, errors
        assert sorted(r.status_code for r in answers) == [200, 409, 409, 409], [r.text for r in answers]
        refused = next(r for r in answers if r.status_code == 409)
        assert "第 2 期" in refused.json()["detail"], refused.json()
        missing = httpx.post(
            f"{url}{base}/contracts/{contract_id}/deliver",
            headers={**as_seller, "Idempotency-Key": "d-9", "Accept-Language": "en"},
            json={"period": 9},
            timeout=60,
        )
        assert missing.status_code == 404
        assert "No such period" in missing.json()["detail"]
    with isolated_database.unit_of_work(write=False) as db:
        status = db.scalars(select(ContractPeriod.payment_status)).one()
        assert status in ("settled", "disputed")
        buyer_user = db.get_one(User, trade["buyer"].user_id)
        assert buyer_user is not None
    _check_books(isolated_database, contract_id)


def test_a_renewed_period_over_the_api(
    client: Any,
    db: Session,
    buyer: Actor,
    merchant: Actor,
    operator: Actor,
    bearer: Any,
    signed: Callable[..., Contract],
    fund: Any,
) -> None:
    contract = _subscription(db, buyer, merchant, signed, fund)
    _renewed(db, contract)
    db.flush()
    base = f"/api/v1/exchange/contracts/{contract.id}"
    as_buyer, as_seller = bearer(db.get_one(User, buyer.user_id)), bearer(db.get_one(User, merchant.user_id))
    listed = client.get(f"{base}/periods", headers=as_buyer).json()
    assert [(p["number"], p["payment_status"], p["price_fen"]) for p in listed] == [(2, "escrowed", PRICE)]
    zero = client.post(f"{base}/deliver", headers={**as_seller, "Idempotency-Key": "d-0"}, json={"period": 0})
    assert zero.status_code == 422
    assert "period" in zero.text
    r = client.post(f"{base}/deliver", headers={**as_seller, "Idempotency-Key": "d-2"}, json={"period": 2})
    assert r.status_code == 200, r.text
    r = client.post(f"{base}/accept-delivery", headers={**as_buyer, "Idempotency-Key": "a-2"}, json={"period": 2})
    assert r.status_code == 200, r.text
    assert client.get(f"{base}/periods", headers=as_buyer).json()[0]["payment_status"] == "settled"
    unknown = client.post(
        f"{base}/refund-requests",
        headers={**as_buyer, "Idempotency-Key": "r-9", "Accept-Language": "zh"},
        json={"amount_fen": 100, "reason": "第九期", "period": 9},
    )
    assert unknown.status_code == 404
    assert "该合同没有这一期" in unknown.json()["detail"]
    r = client.post(
        f"{base}/refund-requests",
        headers={**as_buyer, "Idempotency-Key": "r-2"},
        json={"amount_fen": 3_000, "reason": "第二期部分数据缺失", "period": 2},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["period_number"], r.json()["bill_id"], r.json()["amount_fen"]) == (2, None, 3_000)
    answered = client.post(
        f"/api/v1/exchange/refund-requests/{r.json()['id']}/answer",
        headers={**as_seller, "Idempotency-Key": "ans-2"},
        json={"accept": True},
    )
    assert answered.status_code == 200, answered.text
    period = client.get(f"{base}/periods", headers=as_buyer).json()[0]
    assert (period["refunded_fen"], period["fee_fen"]) == (3_000, FEE - 75)
    assert client.get(f"{base}", headers=as_buyer).json()["refunded_fen"] == 0
