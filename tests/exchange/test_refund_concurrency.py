"""Refund requests under concurrency, on real commits (SQLite here; PostgreSQL with
QIANSHU_TEST_DATABASE_URL): of two requests of one contract at once, or two answers or decisions of
one request at once, exactly one wins and the others get a bilingual 409 with nothing moved;
in-process threads and real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from qianshu.accounts import service as accounts
from qianshu.accounts.models import User
from qianshu.accounts.schemas import TokenIn
from qianshu.core.db import Database
from qianshu.core.errors import Conflict
from qianshu.core.settings import Settings
from qianshu.exchange import payments, refunds
from qianshu.exchange.models import Contract, RefundRequest
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerTransfer
from qianshu.web.app import create_app
from tests.exchange.test_concurrency import PRICE, _books_balance, _race, _trading
from tests.factories import Factories
from tests.web.live import live_server


def _settled(database: Database, contracts: int = 1) -> dict[str, Any]:
    """Committed: ``contracts`` settled contracts between a seller and a buyer, tokens for both, an operator."""
    trade = _trading(database, contracts, contracts * PRICE, delivered=True)
    with database.unit_of_work() as db:
        for contract_id in trade["contracts"]:
            payments.accept_delivery(db, trade["buyer"], contract_id)
        seller_user = db.get_one(User, trade["seller"].user_id)
        _t, trade["seller_token"] = accounts.create_token(
            db, accounts.actor_for(seller_user, via="api", ip="127.0.0.1"), TokenIn(name="s", scopes=["read", "write"]))
        make = Factories(db)
        trade["operator"] = make.actor(make.operator())
    return trade


def _refund_transfers(database: Database) -> int:
    with database.unit_of_work(write=False) as db:
        return int(db.scalar(select(func.count()).select_from(LedgerTransfer)
                             .where(LedgerTransfer.kind.in_(("refund", "fee_refund")))) or 0)


def test_two_requests_of_one_contract_at_once_open_one(isolated_database: Database) -> None:
    trade = _settled(isolated_database)
    contract_id = trade["contracts"][0]

    def ask(i: int) -> None:
        with isolated_database.unit_of_work() as db:
            refunds.request_refund(db, trade["buyer"], contract_id, 1_000 + i, f"第 {i} 次申请：数据缺失")

    done, errors = _race(4, ask)
    assert done == 1, errors
    assert len(errors) == 3, errors
    assert all(isinstance(e, Conflict) for e in errors), errors
    assert {e.render("en") for e in errors} == {  # type: ignore[attr-defined]
        f"Contract {_number(isolated_database, contract_id)} already has an open refund request for this item; "
        "wait for its answer."}
    assert all("已有" in e.render("zh") for e in errors)  # type: ignore[attr-defined]
    with isolated_database.unit_of_work(write=False) as db:
        assert db.scalar(select(func.count()).select_from(RefundRequest)) == 1


def _number(database: Database, contract_id: int) -> str:
    with database.unit_of_work(write=False) as db:
        return db.get_one(Contract, contract_id).number


def test_accepting_and_refusing_at_once_answers_once(isolated_database: Database) -> None:
    trade = _settled(isolated_database)
    contract_id = trade["contracts"][0]
    with isolated_database.unit_of_work() as db:
        request_id = refunds.request_refund(db, trade["buyer"], contract_id, 20_000, "字段缺失").id
    outcomes: list[str] = []

    def answer(i: int) -> None:
        with isolated_database.unit_of_work() as db:
            refunds.answer_refund(db, trade["seller"], request_id, i % 2 == 0, "" if i % 2 == 0 else "已按约交付")
            outcomes.append("accepted" if i % 2 == 0 else "refused")

    done, errors = _race(4, answer)
    assert done == 1, errors
    assert all(isinstance(e, Conflict) for e in errors), errors
    with isolated_database.unit_of_work(write=False) as db:
        request = db.get_one(RefundRequest, request_id)
        contract = db.get_one(Contract, contract_id)
        assert request.status == outcomes[0]
        assert contract.refunded_fen == (20_000 if outcomes[0] == "accepted" else 0)
    assert _refund_transfers(isolated_database) == (2 if outcomes[0] == "accepted" else 0)
    _books_balance(isolated_database)


def test_two_operators_deciding_at_once_decide_once(isolated_database: Database) -> None:
    trade = _settled(isolated_database)
    contract_id = trade["contracts"][0]
    with isolated_database.unit_of_work() as db:
        request_id = refunds.request_refund(db, trade["buyer"], contract_id, 30_000, "数据与描述不符").id
        refunds.answer_refund(db, trade["seller"], request_id, False, "不同意")
        refunds.escalate(db, trade["buyer"], request_id)

    def decide(i: int) -> None:
        with isolated_database.unit_of_work() as db:
            refunds.decide_refund(db, trade["operator"], request_id, True, f"裁定 {i}")

    done, errors = _race(4, decide)
    assert done == 1, errors
    assert all(isinstance(e, Conflict) for e in errors), errors
    assert _refund_transfers(isolated_database) == 2  # the seller's part and the fee's share, once
    with isolated_database.unit_of_work(write=False) as db:
        assert db.get_one(Contract, contract_id).refunded_fen == 30_000
        buyer_wallet = ledger.wallet_of(db, trade["buyer"].org_id or 0)
        assert ledger.balance(db, buyer_wallet) == 30_000
    _books_balance(isolated_database)


def _app(database: Database, tmp_path: Path, buyer_token: str, seller_token: str) -> tuple[Any, dict[str, str],
                                                                                       dict[str, str]]:
    """The web app on ``database``, and the buyer's and seller's Authorization headers."""
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False)
    return (create_app(settings, database=database), {"Authorization": f"Bearer {buyer_token}"},
            {"Authorization": f"Bearer {seller_token}"})


def test_requests_and_answers_at_once_over_http(isolated_database: Database, tmp_path: Path) -> None:
    trade = _settled(isolated_database)
    contract_id = trade["contracts"][0]
    app, as_buyer, as_seller = _app(isolated_database, tmp_path, trade["token"], trade["seller_token"])
    base = "/api/v1/exchange"
    answers: list[httpx.Response] = []
    with live_server(app) as url:
        def ask(i: int) -> None:
            answers.append(httpx.post(f"{url}{base}/contracts/{contract_id}/refund-requests",
                                      headers={**as_buyer, "Idempotency-Key": f"ask-{i}",
                                               "Accept-Language": "zh" if i % 2 else "en"},
                                      json={"amount_fen": 10_000, "reason": "部分数据缺失"}, timeout=60))

        _done, errors = _race(2, ask)
        assert not errors, errors
        assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
        refused = next(r for r in answers if r.status_code == 409)
        assert refused.headers["content-type"].startswith("application/problem+json")
        words = "已有" if refused.headers["Content-Language"] == "zh" else "already has an open refund request"
        assert words in refused.json()["detail"], refused.json()
        request_id = next(r for r in answers if r.status_code == 200).json()["id"]
        decisions: list[httpx.Response] = []

        def answer(i: int) -> None:
            decisions.append(httpx.post(f"{url}{base}/refund-requests/{request_id}/answer",
                                        headers={**as_seller, "Idempotency-Key": f"answer-{i}"},
                                        json={"accept": i == 0, "reason": "" if i == 0 else "不同意"}, timeout=60))

        _done, errors = _race(2, answer)
        assert not errors, errors
        assert sorted(r.status_code for r in decisions) == [200, 409], [r.text for r in decisions]
        again = httpx.post(f"{url}{base}/refund-requests/{request_id}/answer",
                           headers={**as_seller, "Idempotency-Key": "answer-late", "Accept-Language": "zh"},
                           json={"accept": True, "reason": ""}, timeout=60)
        assert again.status_code == 409
        assert "退款申请处于" in again.json()["detail"]
    won = next(r for r in decisions if r.status_code == 200).json()["status"]
    assert _refund_transfers(isolated_database) == (2 if won == "accepted" else 0)
    _books_balance(isolated_database)


def test_one_open_request_per_item_over_http(isolated_database: Database, tmp_path: Path) -> None:
    """A subscription with its price and a renewed period settled: two requests of period 2 at once
    open one (the other a bilingual 409); the price may be asked meanwhile; the seller answers each
    and each is paid once, from its own item."""
    from qianshu.exchange import renewals
    from qianshu.exchange.models import ContractPeriod
    from qianshu.exchange.settings import ExchangeSettings
    from tests.exchange.test_renewals import PRICE as MONTH
    from tests.exchange.test_renewals import _committed

    trade = _committed(isolated_database)
    contract_id = trade["contract"]
    with isolated_database.unit_of_work() as db:
        assert renewals.renew_due(db, ExchangeSettings()) == (1, 0)
        renewals.deliver(db, trade["seller"], contract_id, period=2)
        renewals.accept_delivery(db, trade["buyer"], contract_id, period=2)
    app, as_buyer, as_seller = _app(isolated_database, tmp_path, trade["tokens"]["buyer"], trade["tokens"]["seller"])
    base = "/api/v1/exchange"
    answers: list[httpx.Response] = []
    with live_server(app) as url:
        def ask(i: int) -> None:
            body: dict[str, Any] = {"amount_fen": 3_000, "reason": "第二期数据缺失"}
            if i < 2:
                body["period"] = 2
            answers.append(httpx.post(f"{url}{base}/contracts/{contract_id}/refund-requests",
                                      headers={**as_buyer, "Idempotency-Key": f"item-{i}",
                                               "Accept-Language": "zh" if i % 2 else "en"},
                                      json=body, timeout=60))

        _done, errors = _race(3, ask)
        assert not errors, errors
        assert sorted(r.status_code for r in answers) == [200, 200, 409], [r.text for r in answers]
        refused = next(r for r in answers if r.status_code == 409)
        assert refused.headers["content-type"].startswith("application/problem+json")
        words = ("已有未结的退款申请" if refused.headers["Content-Language"] == "zh"
                 else "already has an open refund request for this item")
        assert words in refused.json()["detail"], refused.json()
        opened = [r.json() for r in answers if r.status_code == 200]
        assert sorted(r["period_number"] or 1 for r in opened) == [1, 2]
        for made in opened:
            done = httpx.post(f"{url}{base}/refund-requests/{made['id']}/answer",
                              headers={**as_seller, "Idempotency-Key": f"ok-{made['id']}"},
                              json={"accept": True, "reason": ""}, timeout=60)
            assert done.status_code == 200, done.text
        again = httpx.post(f"{url}{base}/contracts/{contract_id}/refund-requests",
                           headers={**as_buyer, "Idempotency-Key": "item-again"},
                           json={"amount_fen": 1_000, "reason": "再退一部分", "period": 2}, timeout=60)
        assert again.status_code == 200, again.text  # the item's request was answered: it may be asked again
    assert _refund_transfers(isolated_database) == 4  # two accepted requests: seller's part and fee's share each
    with isolated_database.unit_of_work(write=False) as db:
        period = db.scalars(select(ContractPeriod).where(ContractPeriod.contract_id == contract_id)).one()
        assert (period.refunded_fen, db.get_one(Contract, contract_id).refunded_fen) == (3_000, 3_000)
        assert ledger.balance(db, ledger.wallet_of(db, trade["buyer"].org_id or 0)) == 6_000
        assert period.price_fen == MONTH
    _books_balance(isolated_database)


def test_two_escalations_at_once_escalate_once(isolated_database: Database, tmp_path: Path) -> None:
    """The buyer's two escalations of one refused request at once (two threads; then two HTTP
    clients): one takes it to the operators, the other gets a 409; one timeline step, one notice
    to each party."""
    from qianshu.core.inbox import Notification
    from qianshu.exchange.models import TimelineEntry

    trade = _settled(isolated_database, contracts=2)
    requests = []
    with isolated_database.unit_of_work() as db:
        for contract_id in trade["contracts"]:
            asked = refunds.request_refund(db, trade["buyer"], contract_id, 20_000, "部分记录缺失")
            refunds.answer_refund(db, trade["seller"], asked.id, False, "数据完整")
            requests.append(asked.id)

    def escalate(i: int) -> None:
        with isolated_database.unit_of_work() as db:
            refunds.escalate(db, trade["buyer"], requests[0])

    done, errors = _race(2, escalate)
    assert done == 1, errors
    assert [type(e) for e in errors] == [Conflict], errors
    app, as_buyer, _as_seller = _app(isolated_database, tmp_path, trade["token"], trade["seller_token"])
    answers: list[httpx.Response] = []
    with live_server(app) as url:
        def post(i: int) -> None:
            answers.append(httpx.post(f"{url}/api/v1/exchange/refund-requests/{requests[1]}/escalate",
                                      headers={**as_buyer, "Idempotency-Key": f"esc-{i}"}, timeout=60))

        _done, failed = _race(2, post)
        assert not failed, failed
    assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
    with isolated_database.unit_of_work(write=False) as db:
        for request_id, contract_id in zip(requests, trade["contracts"], strict=True):
            request = db.get_one(RefundRequest, request_id)
            assert (request.status, request.open_item) == ("escalated", f"{contract_id}:period-1")
            steps = db.scalars(select(TimelineEntry.step).where(TimelineEntry.contract_id == contract_id)).all()
            assert steps.count("refund_request_escalated") == 1
            notices = db.scalar(select(func.count()).select_from(Notification).where(
                Notification.subject_type == "contract", Notification.subject_id == contract_id,
                Notification.message == "The refund request on contract {number} went to the exchange's operators."))
            assert notices == 2  # the buyer and the seller, once each
