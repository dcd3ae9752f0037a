"""Abuse under concurrency, with real commits (threads; SQLite's single writer, PostgreSQL's row
locks — run with QIANSHU_TEST_DATABASE_URL): a voucher's value is spent once when two orders name
it at once, usage is settled once, a claim is paid once, approvals never pass the budget; and the
same over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from qianshu.accounts import service as accounts
from qianshu.accounts.schemas import TokenIn
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.errors import QianshuError
from qianshu.core.settings import Settings
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerAccount
from qianshu.vouchers import redemption, schemas, service
from qianshu.vouchers.models import ComputeOrder, Programme, Reimbursement, Voucher, VoucherUse
from qianshu.web.app import create_app
from tests.factories import Factories
from tests.vouchers.conftest import EVIDENCE, build_world, issue
from tests.web.live import live_server

pytestmark = pytest.mark.slow
LIMIT = 1_000_000


def _at_once(work: Callable[[int], Any], n: int) -> list[Any]:
    results: list[Any] = [None] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except QianshuError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def _setup(database: Database) -> tuple[Any, dict[str, Any], list[int]]:
    with database.unit_of_work() as db:
        make = Factories(db)
        world = build_world(db, make)
        vouchers = issue(db, world, world.company, [10_000_00])
        actors = {name: accounts.actor_for(getattr(world, name), via="api", ip=None)
                  for name in ("admin", "provider", "company", "other_company")}
        return world, actors, vouchers


def _order(world: Any, vouchers: list[int], voucher_fen: int | None = 8_000_00) -> schemas.OrderIn:
    # 2,300 card-hours at 12 yuan: 27,600 yuan, of which vouchers may pay 30 % (8,280 yuan)
    return schemas.OrderIn(offering_id=world.offering_id, card_hours=2300, month=service.today().strftime("%Y-%m"),
                           purpose="large_model_training", voucher_ids=vouchers, voucher_fen=voucher_fen)


def _books_sum_zero(database: Database) -> None:
    with database.unit_of_work(write=False) as db:
        assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0


def test_one_voucher_in_concurrent_orders_is_spent_once(isolated_database: Database) -> None:
    world, actors, vouchers = _setup(isolated_database)

    def order(i: int) -> int:
        with isolated_database.unit_of_work() as db:
            return redemption.place_order(db, actors["company"], world.programme_id, _order(world, vouchers)).id

    outcomes = _at_once(order, 4)
    won = [o for o in outcomes if isinstance(o, int)]
    lost = [o for o in outcomes if isinstance(o, QianshuError)]
    assert len(won) == 1, outcomes
    assert {e.code for e in lost} <= {"voucher_value_short", "voucher_spent"}
    assert len(lost) == 3
    with isolated_database.unit_of_work(write=False) as db:
        voucher = db.get_one(Voucher, vouchers[0])
        assert voucher.remaining_fen == 2_000_00
        assert db.scalar(select(func.sum(VoucherUse.applied_fen))) == 8_000_00
        assert db.scalar(select(func.count(ComputeOrder.id))) == 1
    _books_sum_zero(isolated_database)


def test_usage_and_claims_happen_once_and_approvals_stay_within_the_budget(isolated_database: Database,
                                                                             settings: Settings) -> None:
    world, actors, vouchers = _setup(isolated_database)
    blobs = open_blob_store(settings)
    with isolated_database.unit_of_work() as db:
        order_id = redemption.place_order(db, actors["company"], world.programme_id, _order(world, vouchers)).id

    def usage(i: int) -> str:
        with isolated_database.unit_of_work() as db:
            return redemption.report_usage(db, actors["provider"], blobs, order_id, schemas.UsageIn(
                used_card_hours=2000 - i, evidence_name="m.csv", evidence_base64=EVIDENCE), LIMIT).status

    outcomes = _at_once(usage, 3)
    assert outcomes.count("settled") == 1, outcomes
    assert all(o.code == "usage_already_reported" for o in outcomes if isinstance(o, QianshuError))

    def claim(i: int) -> int:
        with isolated_database.unit_of_work() as db:
            return redemption.claim_reimbursement(db, actors["provider"], blobs, order_id, schemas.ClaimIn(
                invoice_number=f"5200{i:04d}", delivery_proof_base64=EVIDENCE), LIMIT).id

    claims = _at_once(claim, 3)
    assert len([c for c in claims if isinstance(c, int)]) == 1, claims
    claim_id = next(c for c in claims if isinstance(c, int))

    def decide(i: int) -> str:
        with isolated_database.unit_of_work() as db:
            return redemption.decide_claim(db, actors["admin"], claim_id,
                                           schemas.ClaimDecisionIn(approve=True)).status

    decisions = _at_once(decide, 3)
    assert decisions.count("approved") == 1, decisions
    with isolated_database.unit_of_work(write=False) as db:
        programme = db.get_one(Programme, world.programme_id)
        paid = db.get_one(Reimbursement, claim_id).amount_fen
        assert programme.reimbursed_fen == paid

    # approvals at once: the budget has room for exactly one more voucher of 100,000 yuan
    with isolated_database.unit_of_work() as db:
        programme = db.get_one(Programme, world.programme_id)
        programme.budget_fen = programme.committed_fen + 100_000_00
        apps = [service.apply(db, actor, world.programme_id, schemas.ApplicationIn(
            purpose="large_model_training", company_size="small", planned_use="训练大模型",
            requested_fen=100_000_00)).id for actor in (actors["company"], actors["other_company"])]

    def approve(i: int) -> str:
        with isolated_database.unit_of_work() as db:
            return service.decide_application(db, actors["admin"], apps[i], schemas.DecisionIn(
                approve=True, face_values_fen=[100_000_00])).status

    approvals = _at_once(approve, 2)
    assert approvals.count("approved") == 1, approvals
    with isolated_database.unit_of_work(write=False) as db:
        programme = db.get_one(Programme, world.programme_id)
        assert programme.remaining_fen == 0
    _books_sum_zero(isolated_database)


def test_concurrent_orders_over_http_spend_a_voucher_once(isolated_database: Database, tmp_path: Path) -> None:
    world, actors, vouchers = _setup(isolated_database)
    with isolated_database.unit_of_work() as db:
        _token, raw = accounts.create_token(db, actors["company"], TokenIn(name="t", scopes=["read", "write"]))
        _token, other = accounts.create_token(db, actors["other_company"], TokenIn(name="t", scopes=["read", "write"]))
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False)
    body = _order(world, vouchers).model_dump(mode="json")
    with live_server(create_app(settings, database=isolated_database)) as base:
        def post(i: int) -> httpx.Response:
            with httpx.Client(base_url=base, timeout=30) as http:
                return http.post(f"/api/v1/vouchers/programmes/{world.programme_id}/orders", json=body,
                                 headers={"Authorization": f"Bearer {raw}", "Idempotency-Key": f"order-{i}",
                                          "Accept-Language": "zh" if i % 2 else "en"})

        responses = _at_once(post, 4)
        with httpx.Client(base_url=base, timeout=30) as http:
            stolen = http.post(f"/api/v1/vouchers/programmes/{world.programme_id}/orders", json=body,
                               headers={"Authorization": f"Bearer {other}", "Idempotency-Key": "steal"})
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1, [r.text for r in responses]
    refused = [r for r in responses if r.status_code != 201]
    assert all(r.status_code in (409, 422) and r.json()["field"] in ("voucher_ids", "voucher_fen") for r in refused)
    assert any("券" in r.json()["detail"] for r in refused if r.headers["content-language"] == "zh") or all(
        r.headers["content-language"] == "en" for r in refused)
    assert stolen.status_code == 404
    assert stolen.json()["field"] == "voucher_ids"
    with isolated_database.unit_of_work(write=False) as db:
        assert db.get_one(Voucher, vouchers[0]).remaining_fen == 2_000_00
    _books_sum_zero(isolated_database)


def test_an_ended_programme_returns_its_budget_once_when_runs_overlap(isolated_database: Database) -> None:
    """Three workers (or a worker and the CLI) closing ended programmes at once: one return."""
    from qianshu.core.actor import SYSTEM
    from qianshu.vouchers import closing
    from tests.vouchers.test_closing import end_programme

    world, _actors, _vouchers = _setup(isolated_database)
    with isolated_database.unit_of_work() as db:
        end_programme(db, world.programme_id)
        programme = db.get_one(Programme, world.programme_id)
        expected = programme.budget_fen  # the company's voucher lapses: nothing is owed

    def close(i: int) -> int:
        with isolated_database.unit_of_work() as db:
            if i == 0:
                return closing.return_unspent(db, SYSTEM, world.programme_id)
            return closing.close_ended(db)

    outcomes = _at_once(close, 3)
    assert sorted(outcomes) == [0, 0, expected], outcomes
    with isolated_database.unit_of_work(write=False) as db:
        programme = db.get_one(Programme, world.programme_id)
        assert programme.returned_fen == expected
        assert programme.closed_at is not None
        assert ledger.balance(db, programme.budget_account_id or 0) == 0
    _books_sum_zero(isolated_database)


def _data_contract(database: Database, settings: Settings, vouchers: int = 1) -> dict[str, Any]:
    """Committed: a buyer and a seller with a contract in force (not paid), a data programme of the
    seller's, and ``vouchers`` data vouchers of 1,000 yuan held by the buyer."""
    from tests.exchange.test_concurrency import PRICE, _trading
    from tests.vouchers.conftest import programme_in

    trade = _trading(database, 1, PRICE, delivered=False)
    buyer, seller = trade["buyer"], trade["seller"]
    with database.unit_of_work() as db:
        make = Factories(db)
        admin = make.actor(make.user(organisation=make.org(org_type="voucher_administrator")))
        ledger.deposit(db, make.actor(make.operator()), org_id=admin.org_id or 0, amount_fen=10_000_00,
                       bank_reference=f"T-ADMIN-{admin.org_id}")
        programme = service.create_programme(db, admin, programme_in(
            [seller.org_id], kind="data", eligible_purposes=["data_product"], ratio_bp=4000, budget_fen=10_000_00,
            face_values_fen=[1_000_00], cap_contract_fen=1_000_00, cap_company_year_fen=5_000_00))
        application = service.apply(db, buyer, programme.id, schemas.ApplicationIn(
            purpose="data_product", company_size="small", planned_use="购买数据产品", requested_fen=1_000_00))
        service.decide_application(db, admin, application.id,
                                   schemas.DecisionIn(approve=True, face_values_fen=[1_000_00] * vouchers))
        ids = list(db.scalars(select(Voucher.id).where(Voucher.holder_org_id == buyer.org_id).order_by(Voucher.id)))
        return {"buyer": buyer, "seller": seller, "admin": admin, "contract_id": trade["contracts"][0],
                "programme_id": programme.id, "vouchers": ids, "price": PRICE}


def test_one_contract_paid_twice_at_once_with_two_vouchers_is_subsidised_once(isolated_database: Database,
                                                                              settings: Settings) -> None:
    from qianshu.vouchers import data_vouchers

    world = _data_contract(isolated_database, settings, vouchers=2)

    def pay(i: int) -> int:
        with isolated_database.unit_of_work() as db:
            return data_vouchers.pay_contract(db, world["buyer"], world["programme_id"], schemas.ContractPaymentIn(
                contract_id=world["contract_id"], voucher_ids=[world["vouchers"][i]])).id

    outcomes = _at_once(pay, 2)
    won = [o for o in outcomes if isinstance(o, int)]
    assert len(won) == 1, outcomes
    lost = next(o for o in outcomes if not isinstance(o, int))
    assert isinstance(lost, QianshuError)
    assert lost.status == 409, lost
    with isolated_database.unit_of_work(write=False) as db:
        held = sorted(v.remaining_fen for v in db.scalars(select(Voucher).where(
            Voucher.id.in_(world["vouchers"]))))
        assert held == [1_000_00 - world["price"] * 4000 // 10_000, 1_000_00]  # the loser's voucher is untouched
        assert db.scalar(select(func.count(ComputeOrder.id))) == 1
    _books_sum_zero(isolated_database)


def test_a_refund_and_the_approval_of_its_claim_at_once_leave_the_subsidy_with_the_programme(
        isolated_database: Database, settings: Settings) -> None:
    """A data voucher's contract refunded by its seller while the administrator approves the seller's
    claim: whichever comes first, the subsidy ends with the programme and the books sum to zero."""
    from qianshu.exchange import payments
    from qianshu.vouchers import data_vouchers

    world = _data_contract(isolated_database, settings)
    buyer, seller, admin, contract_id = world["buyer"], world["seller"], world["admin"], world["contract_id"]
    PRICE = world["price"]  # noqa: N806 - the exchange's test constant
    blobs = open_blob_store(settings)
    with isolated_database.unit_of_work() as db:
        programme = db.get_one(Programme, world["programme_id"])
        order = data_vouchers.pay_contract(db, buyer, programme.id, schemas.ContractPaymentIn(
            contract_id=contract_id, voucher_ids=world["vouchers"]))
        part, programme_id = order.voucher_fen, programme.id
        payments.deliver(db, seller, contract_id)
        payments.accept_delivery(db, buyer, contract_id)
        claim_id = redemption.claim_reimbursement(db, seller, blobs, order.id, schemas.ClaimIn(
            invoice_number="INV-DATA-1", delivery_proof_base64=EVIDENCE), LIMIT).id
    assert part == PRICE * 4000 // 10_000

    def act(i: int) -> str:
        with isolated_database.unit_of_work() as db:
            if i == 0:
                return redemption.decide_claim(db, admin, claim_id, schemas.ClaimDecisionIn(approve=True)).status
            payments.refund(db, seller, contract_id, PRICE - part, "withdrawn")
            return "refunded"

    outcomes = _at_once(act, 2)
    assert "refunded" in outcomes, outcomes  # the refund always goes through (the seller holds the subsidy)
    assert outcomes[0] == "approved" or getattr(outcomes[0], "code", None) == "nothing_to_claim", outcomes
    with isolated_database.unit_of_work(write=False) as db:
        programme = db.get_one(Programme, programme_id)
        assert programme.reimbursed_fen == 0
        assert db.get_one(ComputeOrder, order.id).returned_fen == part
        assert ledger.balance(db, programme.budget_account_id or 0) == programme.budget_fen
        assert programme.committed_fen == 1_000_00 - part  # what the voucher still holds
    _books_sum_zero(isolated_database)
