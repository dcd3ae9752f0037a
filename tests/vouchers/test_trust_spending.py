"""A broken-trust record in force stops its organisation spending the vouchers it holds, whoever of
the administrators made it: a compute order and a data-voucher payment are refused with a bilingual
409 naming the record, the vouchers keep their value, the holder's vouchers page says why in its
language, and lifting the record lets the vouchers be spent again. A payment and a record made at
the same moment (real commits, threads) end one way or the other, never half."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.accounts.models import User
from qianshu.core.actor import Actor
from qianshu.core.db import Database
from qianshu.core.errors import Conflict, QianshuError
from qianshu.core.i18n import LANG_COOKIE
from qianshu.ledger.models import LedgerAccount
from qianshu.vouchers import data_vouchers, redemption, schemas, service, trust
from qianshu.vouchers.models import BrokenTrust, ComputeOrder, Programme, Voucher
from tests.catalog.conftest import buyer, listed, merchant, operator, registration  # noqa: F401 - fixtures
from tests.exchange.conftest import fund, order, signed  # noqa: F401 - fixtures
from tests.factories import Factories
from tests.vouchers.conftest import World, build_world, issue
from tests.vouchers.test_api_pages import _sign_in
from tests.vouchers.test_concurrency import _at_once
from tests.vouchers.test_concurrency import _order as _big_order
from tests.vouchers.test_contract_pay_form import Ready, ready  # noqa: F401 - fixture
from tests.vouchers.test_trust_records import _uscc
from tests.vouchers.test_trust_scope import _second_programme

RECORD = {"source": "信用中国（贵州）", "reason": "列入严重失信主体名单"}


def _order_body(world: World, vouchers: list[int]) -> dict[str, Any]:
    return {"offering_id": world.offering_id, "card_hours": 100, "month": service.today().strftime("%Y-%m"),
            "purpose": "large_model_training", "voucher_ids": vouchers}


def _left(db: Session, vouchers: list[int]) -> list[int]:
    db.expire_all()
    return [db.get_one(Voucher, v).remaining_fen for v in vouchers]


def test_a_record_by_any_administrator_stops_spending_until_it_is_lifted(client, bearer, db, world: World,
                                                                          make) -> None:
    vouchers = issue(db, world, world.company)
    before = _left(db, vouchers)
    stranger = make.user(organisation=make.org(org_type="voucher_administrator", name="遵义市大数据发展管理局",
                                              name_en="Zunyi Big Data Bureau"))
    elsewhere = _second_programme(db, world, stranger, "data", [make.org(org_type="data_merchant").id])
    company = bearer(world.company)
    orders = f"/api/v1/vouchers/programmes/{world.programme_id}/orders"
    # another administrator records it (naming the company by USCC), through its own programme
    recorded = client.post(f"/api/v1/vouchers/programmes/{elsewhere.id}/broken-trust",
                           json={"org_id": _uscc(db, world.company), **RECORD}, headers=bearer(stranger))
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["org_id"] == world.company.org_id
    for lang, words in (("zh", ("失信", "遵义市大数据发展管理局", "信用中国（贵州）", "不能使用")),
                        ("en", ("broken-trust", "遵义市大数据发展管理局", "信用中国（贵州）", "not spent"))):
        refused = client.post(orders, json=_order_body(world, vouchers),
                              headers={**company, "Accept-Language": lang, "Idempotency-Key": f"refused-{lang}"})
        assert refused.status_code == 409
        assert refused.json()["code"] == "broken_trust"
        assert all(w in refused.json()["detail"] for w in words), refused.json()["detail"]
    # nothing spent, nothing destroyed
    assert _left(db, vouchers) == before
    assert db.scalar(select(func.count(ComputeOrder.id))) == 0
    # the holder's vouchers page says why, in its language
    _sign_in(client, db, world.company)
    for lang, words in (("zh", ("不能使用", "遵义市大数据发展管理局", "列入严重失信主体名单", "余额保留")),
                        ("en", ("cannot be spent", "Zunyi Big Data Bureau", "列入严重失信主体名单",
                                "keep their value"))):
        client.cookies.set(LANG_COOKIE, lang)
        page = client.get("/vouchers/mine")
        assert page.status_code == 200
        notice = page.text[page.text.index('id="broken-trust-notice"'):][:1500]
        assert all(w in notice for w in words), notice
        if lang == "zh":
            assert "Recorded by" not in notice
            assert "Source:" not in notice
    # the programme's page gives the same reason in place of its apply and order forms
    programme = client.get(f"/vouchers/programmes/{world.programme_id}").text
    assert 'id="broken-trust-notice"' in programme
    assert "Zunyi Big Data Bureau" in programme
    assert 'id="order-form"' not in programme
    assert 'id="apply-form"' not in programme
    # the programme's own administrator cannot lift another's record
    lift = client.post(f"/api/v1/vouchers/programmes/{world.programme_id}/broken-trust/lift",
                       json={"org_id": world.company.org_id, "reason": "信用修复"},
                       headers={**bearer(world.admin), "Accept-Language": "en"})
    assert lift.status_code == 409
    assert lift.json()["code"] == "broken_trust_of_another"
    assert "遵义市大数据发展管理局" in lift.json()["detail"]
    # lifted by who made it: the same vouchers are spent
    assert client.post(f"/api/v1/vouchers/programmes/{elsewhere.id}/broken-trust/lift",
                       json={"org_id": _uscc(db, world.company), "reason": "信用修复完成"},
                       headers=bearer(stranger)).json()["lifted"] is True
    paid = client.post(orders, json=_order_body(world, vouchers), headers={**company, "Idempotency-Key": "after"})
    assert paid.status_code == 201, paid.text
    assert sum(_left(db, vouchers)) == sum(before) - paid.json()["voucher_fen"]
    client.cookies.set(LANG_COOKIE, "zh")
    assert 'id="broken-trust-notice"' not in client.get("/vouchers/mine").text
    assert 'id="order-form"' in client.get(f"/vouchers/programmes/{world.programme_id}").text


def test_a_record_stops_paying_a_contract_with_data_vouchers(db: Session, make: Any, buyer: Actor,  # noqa: F811
                                                            ready: Ready) -> None:  # noqa: F811
    programme = db.get_one(Programme, ready.programme_id)
    admin = make.actor(db.scalars(select(User).where(User.org_id == programme.admin_org_id)).first())
    assert buyer.org_id is not None
    assert data_vouchers.payment_offers(db, buyer, ready.contract)  # the contract page offers the vouchers
    trust.record_broken_trust(db, admin, programme.id, schemas.BrokenTrustIn(org_id=buyer.org_id, **RECORD))
    assert data_vouchers.payment_offers(db, buyer, ready.contract) == []  # no form that would be refused
    payment = schemas.ContractPaymentIn(contract_id=ready.contract.id, voucher_ids=[ready.voucher_id])
    with pytest.raises(Conflict) as refused:
        data_vouchers.pay_contract(db, buyer, programme.id, payment)
    assert refused.value.code == "broken_trust"
    assert _left(db, [ready.voucher_id]) == [10_000_00]
    trust.lift_broken_trust(db, admin, programme.id, schemas.LiftBrokenTrustIn(org_id=buyer.org_id, reason="信用修复"))
    assert data_vouchers.pay_contract(db, buyer, programme.id, payment).voucher_fen == ready.part


@pytest.mark.slow
def test_a_payment_and_a_record_at_the_same_moment_end_one_way(isolated_database: Database) -> None:
    """Real commits on the suite's database: whichever comes first, the other sees it. Either the
    order was paid before the record (its time not after the record's), or it is refused and the
    voucher keeps its value; the record is made either way and the books sum to zero."""
    with isolated_database.unit_of_work() as db:
        world = build_world(db, Factories(db))
        vouchers = issue(db, world, world.company, [10_000_00])
        company, admin = (accounts.actor_for(u, via="api", ip=None) for u in (world.company, world.admin))
    outcomes: list[str] = []
    for round_ in range(4):
        def work(i: int, round_: int = round_) -> object:
            with isolated_database.unit_of_work() as db:
                if i == 0:
                    return redemption.place_order(db, company, world.programme_id,
                                                  _big_order(world, vouchers, 1_000_00)).id
                for _ in range(4 * round_):  # later rounds start the record later: either may come first
                    trust.trust_records(db, admin, world.programme_id)
                return trust.record_broken_trust(db, admin, world.programme_id, schemas.BrokenTrustIn(
                    org_id=world.company.org_id, **RECORD)).id

        paid, recorded = _at_once(work, 2)
        assert isinstance(recorded, int), recorded
        with isolated_database.unit_of_work() as db:
            record = db.get_one(BrokenTrust, recorded)
            left = db.get_one(Voucher, vouchers[0]).remaining_fen
            spent = db.scalar(select(func.count(ComputeOrder.id))) or 0
            if isinstance(paid, int):
                assert db.get_one(ComputeOrder, paid).created_at <= record.recorded_at
                assert left == 10_000_00 - 1_000_00 * spent
                outcomes.append("paid first")
            else:
                assert isinstance(paid, QianshuError), paid
                assert paid.code == "broken_trust", paid
                assert left == 10_000_00 - 1_000_00 * spent  # no value taken by the refused order
                outcomes.append("refused")
            assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0
            trust.lift_broken_trust(db, admin, world.programme_id, schemas.LiftBrokenTrustIn(
                org_id=world.company.org_id, reason=f"第{round_}轮信用修复"))
    assert len(outcomes) == 4
