"""Two banks pledge the same asset at the same moment: exactly one wins (real commits, threads;
run on PostgreSQL with QIANSHU_TEST_DATABASE_URL)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from qianshu.accounts.service import actor_for
from qianshu.core.errors import QianshuError
from qianshu.core.signing import load_signer
from qianshu.finance import schemas, service
from qianshu.finance.models import Pledge
from tests.factories import Factories
from tests.finance.conftest import issue_asset


@pytest.mark.slow
def test_two_banks_pledging_one_asset_at_once_only_one_wins(isolated_database, settings, gb_csv) -> None:  # type: ignore[no-untyped-def]
    with isolated_database.unit_of_work() as db:
        asset = issue_asset(isolated_database, db, settings, Factories(db), gb_csv)
        banks = [actor_for(u, via="api", ip=None) for u in (asset.bank, asset.other_bank)]
        holder_org = asset.holder.organisation.id
    signer = load_signer(settings.key_dir)
    for round_ in range(3):
        start = threading.Barrier(2)
        outcomes: list[Any] = [None, None]

        def pledge(i: int, start: threading.Barrier = start, outcomes: list[Any] = outcomes) -> None:
            start.wait()
            try:
                with isolated_database.unit_of_work() as db:
                    outcomes[i] = service.create_pledge(db, banks[i], settings, signer, schemas.PledgeIn(
                        certificate_number=asset.number, pledgor_org_id=holder_org, secured_fen=700_000_000,
                        appraised_fen=2_000_000_000, interest_bp=400, term_months=12)).id
            except QianshuError as exc:
                outcomes[i] = exc

        threads = [threading.Thread(target=pledge, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        won = [o for o in outcomes if isinstance(o, int)]
        lost = [o for o in outcomes if isinstance(o, QianshuError)]
        assert (len(won), len(lost)) == (1, 1), outcomes
        assert lost[0].field == "secured_fen"
        assert lost[0].code == "ltv_above_limit"
        with isolated_database.unit_of_work() as db:
            open_ = db.scalars(select(Pledge).where(Pledge.status.in_(("pending", "active")))).all()
            assert [p.id for p in open_] == won
            # release it so the next round starts from a free asset again
            winner = banks[0] if open_[0].pledgee_org_id == banks[0].org_id else banks[1]
            service.release_pledge(db, winner, signer, won[0], f"round {round_}")


def test_a_refused_revocation_tells_the_pledgee_after_its_rollback(isolated_database, settings, gb_csv) -> None:  # type: ignore[no-untyped-def]
    """With real commits (SQLite's write lock, PostgreSQL's row locks): the refused revocation's
    transaction is gone before the notice is written in a transaction of its own."""
    from qianshu.core.errors import Conflict
    from qianshu.core.inbox import Notification
    from qianshu.registry import review

    with isolated_database.unit_of_work() as db:
        asset = issue_asset(isolated_database, db, settings, Factories(db), gb_csv)
        bank, operator = (actor_for(u, via="api", ip=None) for u in (asset.bank, asset.operator))
        holder_org, bank_org = asset.holder.organisation.id, asset.bank.organisation.id
    signer = load_signer(settings.key_dir)
    with isolated_database.unit_of_work() as db:
        service.create_pledge(db, bank, settings, signer, schemas.PledgeIn(
            certificate_number=asset.number, pledgor_org_id=holder_org, secured_fen=700_000_000,
            appraised_fen=2_000_000_000, interest_bp=400, term_months=12))
    for _attempt in range(2):  # told once while the first notice is unread
        with pytest.raises(Conflict), isolated_database.unit_of_work() as db:
            review.revoke(db, operator, asset.registration_id, "持有人申请撤销", signer)
    with isolated_database.unit_of_work(write=False) as db:
        notes = db.scalars(select(Notification).where(Notification.org_id == bank_org)).all()
        assert [n.message.startswith("Someone tried to revoke") for n in notes] == [True]
        assert service.standing(db, operator, asset.number).status == "valid"


def _active_pledge_committed(isolated_database, settings, signer, path):  # type: ignore[no-untyped-def]
    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        asset = issue_asset(isolated_database, db, settings, make, path)
        bank, holder = (actor_for(u, via="api", ip=None) for u in (asset.bank, asset.holder))
        pledge = service.create_pledge(db, bank, settings, signer, schemas.PledgeIn(
            certificate_number=asset.number, pledgor_org_id=asset.holder.organisation.id, secured_fen=400_000_000,
            appraised_fen=2_000_000_000, interest_bp=400, term_months=12))
        service.confirm_pledge(db, holder, signer, pledge.id)
        others = [actor_for(u, via="api", ip=None) for u in (asset.stranger, asset.operator)]
        return others, bank, pledge.id


def _race(work: list[Any]) -> list[Any]:
    start = threading.Barrier(len(work))
    outcomes: list[Any] = [None] * len(work)

    def run(i: int) -> None:
        start.wait()
        try:
            outcomes[i] = work[i]()
        except QianshuError as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


@pytest.mark.slow
def test_two_buyers_of_one_forced_sale_at_once_only_one_wins(isolated_database, settings, gb_csv) -> None:  # type: ignore[no-untyped-def]
    from qianshu.finance import sale
    from qianshu.finance.models import ForcedSale
    from qianshu.ledger import service as ledger

    signer = load_signer(settings.key_dir)
    (stranger, operator), bank, pledge_id = _active_pledge_committed(isolated_database, settings, signer, gb_csv)
    with isolated_database.unit_of_work() as db:
        listed = sale.list_forced_sale(db, bank, signer, pledge_id, 500_000_000, "逾期 90 天")
        make = Factories(db)
        actors = [stranger, actor_for(make.user(organisation=make.org(org_type="buyer")), via="api", ip=None)]
        for n, actor in enumerate(actors):
            ledger.deposit(db, operator, org_id=actor.org_id or 0, amount_fen=600_000_000, bank_reference=f"RACE-{n}")
        sale_id = listed.id

    def buy(actor):  # type: ignore[no-untyped-def]
        def _buy() -> int:
            with isolated_database.unit_of_work() as db:
                return sale.buy_forced_sale(db, actor, settings, signer, sale_id).buyer_org_id or 0
        return _buy

    outcomes = _race([buy(a) for a in actors])
    won = [o for o in outcomes if isinstance(o, int)]
    lost = [o for o in outcomes if isinstance(o, QianshuError)]
    assert (len(won), len(lost)) == (1, 1), outcomes
    assert (lost[0].status, lost[0].code) == (409, "sale_closed")
    assert "已关闭" in lost[0].render("zh")
    assert "is closed" in lost[0].render("en")
    with isolated_database.unit_of_work(write=False) as db:
        assert db.get_one(ForcedSale, sale_id).buyer_org_id == won[0]
        assert len(ledger.transfers_by_cause(db, "forced_sale", sale_id)) == 4  # paid once, split once
        loser = next(a for a in actors if a.org_id != won[0])
        assert ledger.balance(db, ledger.wallet_of(db, loser.org_id or 0)) == 600_000_000


@pytest.mark.slow
def test_two_enforcements_of_one_pledge_at_once_only_one_wins(isolated_database, settings, gb_csv) -> None:  # type: ignore[no-untyped-def]
    from qianshu.finance import sale

    signer = load_signer(settings.key_dir)
    _others, bank, pledge_id = _active_pledge_committed(isolated_database, settings, signer, gb_csv)

    def record() -> str:
        with isolated_database.unit_of_work() as db:
            return service.enforce_pledge(db, bank, signer, pledge_id, "逾期", "record").status

    def offer() -> str:
        with isolated_database.unit_of_work() as db:
            return sale.list_forced_sale(db, bank, signer, pledge_id, 500_000_000, "逾期").status

    outcomes = _race([record, offer])
    won = [o for o in outcomes if isinstance(o, str)]
    lost = [o for o in outcomes if isinstance(o, QianshuError)]
    assert (len(won), len(lost)) == (1, 1), outcomes
    assert (lost[0].status, lost[0].code) == (409, "pledge_status")
    assert lost[0].render("zh") != lost[0].render("en")
    with isolated_database.unit_of_work(write=False) as db:
        events = [e.action for e in db.get_one(Pledge, pledge_id).events]
        assert events.count("enforced") + events.count("sale_listed") == 1


@pytest.mark.slow
def test_a_withdrawal_and_a_purchase_at_once_only_one_wins(isolated_database, settings, gb_csv) -> None:  # type: ignore[no-untyped-def]
    """The bank withdraws its forced sale while a buyer buys it: one wins, the other gets a bilingual
    409 and changes nothing. After each withdrawal the pledge is offered anew and raced again. The
    first rounds give the withdrawal a head start of 100 and 50 ms (so that its winning side is
    exercised, and the offer again after it); the later ones start both at the same moment, until a
    purchase wins."""
    import time

    from qianshu.finance import sale
    from qianshu.finance.models import ForcedSale
    from qianshu.ledger import service as ledger

    signer = load_signer(settings.key_dir)
    (stranger, operator), bank, pledge_id = _active_pledge_committed(isolated_database, settings, signer, gb_csv)
    with isolated_database.unit_of_work() as db:
        ledger.deposit(db, operator, org_id=stranger.org_id or 0, amount_fen=600_000_000, bank_reference="RACE-W")
    winners = []
    for head_start in (0.1, 0.05, 0.0, 0.0, 0.0, 0.0):
        with isolated_database.unit_of_work() as db:
            sale_id = sale.list_forced_sale(db, bank, signer, pledge_id, 500_000_000, "逾期 90 天").id

        def withdraw(sale_id: int = sale_id) -> str:
            with isolated_database.unit_of_work() as db:
                return sale.withdraw_forced_sale(db, bank, signer, sale_id, "借款人已还款").status

        def buy(sale_id: int = sale_id, head_start: float = head_start) -> str:
            time.sleep(head_start)
            with isolated_database.unit_of_work() as db:
                return sale.buy_forced_sale(db, stranger, settings, signer, sale_id).status

        outcomes = _race([withdraw, buy])
        won = [o for o in outcomes if isinstance(o, str)]
        lost = [o for o in outcomes if isinstance(o, QianshuError)]
        assert (len(won), len(lost)) == (1, 1), outcomes
        assert (lost[0].status, lost[0].code) == (409, "sale_closed")
        assert lost[0].render("zh") != lost[0].render("en")
        winners.append(won[0])
        with isolated_database.unit_of_work(write=False) as db:
            closed = db.get_one(ForcedSale, sale_id)
            pledge = db.get_one(Pledge, pledge_id)
            events = [e.action for e in pledge.events]
            moves = ledger.transfers_by_cause(db, "forced_sale", sale_id)
            if won[0] == "withdrawn":
                assert "撤回" in lost[0].render("zh")
                assert "withdrawn" in lost[0].render("en")
                assert (closed.status, closed.buyer_org_id, pledge.status) == ("withdrawn", None, "active")
                assert moves == []
                assert ledger.balance(db, ledger.wallet_of(db, stranger.org_id or 0)) == 600_000_000
                assert events[-1] == "sale_withdrawn"
                assert "enforced" not in events
            else:
                assert "已关闭" in lost[0].render("zh")
                assert "is closed" in lost[0].render("en")
                assert (closed.status, closed.buyer_org_id, pledge.status) == ("sold", stranger.org_id, "enforced")
                assert len(moves) == 4
                assert events[-1] == "enforced"
                assert events.count("sale_withdrawn") == winners.count("withdrawn")
                break
    print("withdrawal and purchase raced:", winners)


@pytest.mark.slow
def test_two_equal_bids_at_once_over_http_one_leads(isolated_database, settings, gb_csv, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two bidders send the same amount to a live server at the same moment: one bid leads, the
    other is a bilingual 409 ``bid_too_low`` and its money stays in its wallet; the books balance.
    A third round of two raises shows the outbid bidder repaid once."""
    import httpx

    from qianshu.accounts import service as accounts
    from qianshu.accounts.schemas import TokenIn
    from qianshu.finance import sale
    from qianshu.finance.models import SaleBid
    from qianshu.ledger import service as ledger
    from qianshu.ledger.models import LedgerAccount
    from tests.web.live import live_server

    signer = load_signer(settings.key_dir)
    (stranger, operator), bank, pledge_id = _active_pledge_committed(isolated_database, settings, signer, gb_csv)
    with isolated_database.unit_of_work() as db:
        offered = sale.list_forced_sale(db, bank, signer, pledge_id, 500_000_000, "逾期 90 天", closes_in_days=7,
                                        step_fen=1_000_000)
        make = Factories(db)
        bidders = [stranger, actor_for(make.user(organisation=make.org(org_type="buyer")), via="api", ip=None)]
        tokens = []
        for n, bidder in enumerate(bidders):
            ledger.deposit(db, operator, org_id=bidder.org_id or 0, amount_fen=800_000_000, bank_reference=f"BID-{n}")
            tokens.append(accounts.create_token(db, bidder, TokenIn(name=f"bid-{n}", scopes=["read", "write"]))[1])
        sale_id = offered.id
    answers: list[httpx.Response] = []
    with live_server(_app(isolated_database, tmp_path)) as url:
        def bid(i: int, amount: int) -> Any:
            def _bid() -> None:
                answers.append(httpx.post(f"{url}/api/v1/finance/forced-sales/{sale_id}/bids",
                                          json={"amount_fen": amount}, timeout=60,
                                          headers={"Authorization": f"Bearer {tokens[i]}",
                                                   "Accept-Language": "zh" if i else "en"}))
            return _bid

        _race([bid(0, 500_000_000), bid(1, 500_000_000)])
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        refused = next(r for r in answers if r.status_code == 409)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert (refused.json()["code"], refused.json()["field"]) == ("bid_too_low", "amount_fen")
        words = "当前最高出价" if refused.headers["Content-Language"] == "zh" else "the best bid is"
        assert words in refused.json()["detail"], refused.json()
        leader = next(i for i in (0, 1) if any(
            r.status_code == 201 and r.json()["bidder_org_id"] == bidders[i].org_id for r in answers))
        with isolated_database.unit_of_work(write=False) as db:
            assert ledger.balance(db, ledger.wallet_of(db, bidders[leader].org_id or 0)) == 300_000_000
            assert ledger.balance(db, ledger.wallet_of(db, bidders[1 - leader].org_id or 0)) == 800_000_000
        # the other raises to 510 万 twice at once (two requests of one bidder): one leads, the leader is repaid once
        answers.clear()
        other = 1 - leader
        _race([bid(other, 510_000_000), bid(other, 510_000_000)])
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
    with isolated_database.unit_of_work(write=False) as db:
        assert ledger.balance(db, ledger.wallet_of(db, bidders[leader].org_id or 0)) == 800_000_000
        assert ledger.balance(db, ledger.wallet_of(db, bidders[other].org_id or 0)) == 290_000_000
        statuses = [b.status for b in db.scalars(select(SaleBid).where(SaleBid.sale_id == sale_id)
                                                 .order_by(SaleBid.id))]
        assert statuses == ["outbid", "leading"]
        assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0


def _app(isolated_database, tmp_path):  # type: ignore[no-untyped-def]
    """The web app on the test's committed database, without the periodic jobs."""
    from qianshu.core.settings import Settings
    from qianshu.web.app import create_app

    return create_app(Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                               secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False),
                      database=isolated_database)


@pytest.mark.slow
def test_two_banks_pledging_one_asset_at_once_over_http_only_one_wins(isolated_database, settings, gb_csv,  # type: ignore[no-untyped-def]
                                                                      tmp_path) -> None:
    """Two banks send a pledge of the same asset to a live server at the same moment, each within
    the limit alone (35 % of the value) but not together (70 % against 50 %): one is registered (201),
    the other is a 422 problem naming ``secured_fen`` in its reader's language, and leaves nothing:
    one open pledge, one registration leaf. Three rounds, the winner releasing in between."""
    import httpx

    from qianshu.accounts import service as accounts
    from qianshu.accounts.schemas import TokenIn
    from qianshu.finance.models import PledgeEvent
    from tests.web.live import live_server

    with isolated_database.unit_of_work() as db:
        asset = issue_asset(isolated_database, db, settings, Factories(db), gb_csv)
        banks = [actor_for(u, via="api", ip=None) for u in (asset.bank, asset.other_bank)]
        tokens = [accounts.create_token(db, bank, TokenIn(name=f"bank-{n}", scopes=["read", "write"]))[1]
                  for n, bank in enumerate(banks)]
        holder_org = asset.holder.organisation.id
    languages = ("zh", "en")
    with live_server(_app(isolated_database, tmp_path)) as url:
        def pledge(i: int, answers: list[httpx.Response]) -> Any:
            def _pledge() -> None:
                answers.append(httpx.post(f"{url}/api/v1/finance/pledges", timeout=60, json={
                    "certificate_number": asset.number, "pledgor_org_id": holder_org, "secured_fen": 700_000_000,
                    "appraised_fen": 2_000_000_000, "interest_bp": 400, "term_months": 12},
                    headers={"Authorization": f"Bearer {tokens[i]}", "Accept-Language": languages[i]}))
            return _pledge

        for round_ in range(3):
            answers: list[httpx.Response] = []
            _race([pledge(0, answers), pledge(1, answers)])
            assert sorted(r.status_code for r in answers) == [201, 422], [r.text for r in answers]
            won = next(r for r in answers if r.status_code == 201).json()
            refused = next(r for r in answers if r.status_code == 422)
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert (refused.json()["code"], refused.json()["field"]) == ("ltv_above_limit", "secured_fen")
            words = "超过上限" if refused.headers["Content-Language"] == "zh" else "above the limit"
            assert words in refused.json()["detail"], refused.json()
            with isolated_database.unit_of_work() as db:
                open_ = db.scalars(select(Pledge).where(Pledge.status.in_(("pending", "active")))).all()
                assert [p.id for p in open_] == [won["id"]]
                registered = db.scalars(select(PledgeEvent).where(PledgeEvent.action == "registered")).all()
                assert len(registered) == round_ + 1  # the refused pledge left no event, hence no leaf
                winner = next(b for b in banks if b.org_id == won["pledgee_org_id"])
                service.release_pledge(db, winner, load_signer(settings.key_dir), won["id"], f"round {round_}")
