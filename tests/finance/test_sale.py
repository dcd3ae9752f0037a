"""The forced sale on default: the pledgee offers the asset on the exchange, a buyer pays the price
from its wallet, the exchange keeps its fee, the bank is paid up to the debt (secured amount and
interest to the day of sale), the holder gets the rest, the rights pass to the buyer by the
registry's transfer; refusals change nothing and are bilingual. Figures computed by hand."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from qianshu.core.inbox import Notification
from qianshu.core.timeutil import SHANGHAI, utcnow
from qianshu.finance import sale
from qianshu.finance.models import ForcedSale, Pledge
from qianshu.ledger import service as ledger
from qianshu.registry.models import Registration
from tests.finance.test_enforcement import _active_pledge
from tests.registry.helpers import sign_in


def _fund(db, make, asset, org_id, fen, ref):  # type: ignore[no-untyped-def]
    ledger.deposit(db, make.actor(asset.operator), org_id=org_id, amount_fen=fen, bank_reference=ref)


def _list(client, db, asset, bearer, secured=400_000_000, price=500_000_000, days=73):  # type: ignore[no-untyped-def]
    pledge_id = _active_pledge(client, asset, bearer, asset.bank, secured=secured)
    # lent 73 days ago (the day in China, as a loan starts)
    db.get(Pledge, pledge_id).starts_on = utcnow().astimezone(SHANGHAI).date() - dt.timedelta(days=days)
    db.flush()
    r = client.post(f"/api/v1/finance/pledges/{pledge_id}/enforce",
                    json={"reason": "借款人逾期 90 天", "mode": "sale", "price_fen": price}, headers=bearer(asset.bank))
    assert r.status_code == 200, r.text
    return pledge_id, r.json()


def test_the_proceeds_pay_the_fee_then_the_bank_up_to_the_debt_then_the_holder(  # type: ignore[no-untyped-def]
        client, db, make, asset, bearer) -> None:
    pledge_id, listed = _list(client, db, asset, bearer)
    assert listed["status"] == "selling"
    sale_id = listed["forced_sale"]["id"]
    standing = client.get(f"/api/v1/finance/certificates/{asset.number}/status").json()
    assert standing["encumbered"] is True  # still pledged while on sale
    offered = client.get("/api/v1/finance/forced-sales")
    assert offered.status_code == 200, offered.text
    assert [s["id"] for s in offered.json()] == [sale_id]
    buyer = asset.stranger
    _fund(db, make, asset, buyer.organisation.id, 600_000_000, "SALE-1")
    bought = client.post(f"/api/v1/finance/forced-sales/{sale_id}/buy", headers=bearer(buyer))
    assert bought.status_code == 200, bought.text
    # by hand: interest 4 % on 400 万 for 73 days = 400 万 × 0.04 × 73/365 = 3.2 万 → debt 403.2 万;
    # price 500 万, fee 2.5 % = 12.5 万, 487.5 万 left: 403.2 万 to the bank, 84.3 万 to the holder
    body = bought.json()
    assert (body["debt_fen"], body["fee_fen"], body["to_pledgee_fen"], body["to_pledgor_fen"]) == (
        403_200_000, 12_500_000, 403_200_000, 84_300_000)
    assert ledger.balance(db, ledger.wallet_of(db, buyer.organisation.id)) == 100_000_000
    assert ledger.balance(db, ledger.wallet_of(db, asset.bank.organisation.id)) == 403_200_000
    assert ledger.balance(db, ledger.wallet_of(db, asset.holder.organisation.id)) == 84_300_000
    moves = ledger.transfers_by_cause(db, "forced_sale", sale_id)
    assert sorted(m.amount_fen for m in moves) == [12_500_000, 84_300_000, 403_200_000, 500_000_000]
    pledge = db.get(Pledge, pledge_id)
    assert pledge.status == "enforced"
    last = pledge.events[-1]
    assert (last.action, last.details["mode"], last.details["buyer_uscc"]) == (
        "enforced", "sale", buyer.organisation.uscc)
    transfer = db.get(Registration, body["transfer_registration_id"])
    assert (transfer.reg_type, transfer.status, transfer.transferee_org_id) == (
        "transfer", "submitted", buyer.organisation.id)
    # the sale's page links the buyer (the transferee) to the transfer registration; not a stranger to it
    sign_in(client, buyer)
    assert f'href="/registry/{transfer.id}" id="sale-transfer"' in client.get(f"/finance/sales/{sale_id}").text
    client.cookies.clear()
    anonymous = client.get(f"/finance/sales/{sale_id}").text  # the number, but no link it could not follow
    assert 'id="sale-transfer"' not in anonymous
    assert 'id="sale-transfer-number"' in anonymous
    told = {n.org_id: n.params for n in db.scalars(select(Notification).where(
        Notification.message.in_((sale.SOLD_BANK, sale.SOLD_HOLDER))))}
    assert told[asset.holder.organisation.id]["to_holder"] == "843,000.00"
    assert told[asset.bank.organisation.id]["debt"] == "4,032,000.00"
    assert client.get("/api/v1/finance/forced-sales").json() == []


def test_a_price_below_the_debt_goes_to_the_bank_alone(client, db, make, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    _pledge_id, listed = _list(client, db, asset, bearer, price=300_000_000, days=0)
    _fund(db, make, asset, asset.stranger.organisation.id, 300_000_000, "SALE-2")
    body = client.post(f"/api/v1/finance/forced-sales/{listed['forced_sale']['id']}/buy",
                       headers=bearer(asset.stranger)).json()
    # fee 2.5 % of 300 万 = 7.5 万; 292.5 万 < the debt of 400 万: all to the bank, nothing to the holder
    assert (body["debt_fen"], body["fee_fen"], body["to_pledgee_fen"], body["to_pledgor_fen"]) == (
        400_000_000, 7_500_000, 292_500_000, 0)
    assert ledger.balance(db, ledger.wallet_of(db, asset.holder.organisation.id)) == 0


def test_refusals_change_nothing(client, db, make, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    pledge_id = _active_pledge(client, asset, bearer, asset.bank)
    url = f"/api/v1/finance/pledges/{pledge_id}/enforce"
    no_price = client.post(url, json={"reason": "逾期", "mode": "sale"}, headers=bearer(asset.bank))
    assert (no_price.status_code, no_price.json()["field"]) == (422, "price_fen")
    other_bank = client.post(url, json={"reason": "逾期", "mode": "sale", "price_fen": 1},
                             headers=bearer(asset.other_bank))
    assert other_bank.status_code in (403, 404)
    assert db.get(Pledge, pledge_id).status == "active"
    listed = client.post(url, json={"reason": "逾期", "mode": "sale", "price_fen": 500_000_000},
                         headers=bearer(asset.bank)).json()
    sale_id = listed["forced_sale"]["id"]
    again = client.post(url, json={"reason": "逾期", "mode": "record"}, headers={**bearer(asset.bank),
                                                                               "Accept-Language": "zh"})
    assert (again.status_code, again.json()["code"]) == (409, "pledge_status")
    assert "强制出售中" in again.json()["detail"]
    buy = f"/api/v1/finance/forced-sales/{sale_id}/buy"
    own = client.post(buy, headers=bearer(asset.holder))
    assert (own.status_code, own.json()["code"]) == (409, "own_sale")
    poor = client.post(buy, headers={**bearer(asset.stranger), "Accept-Language": "en"})
    assert (poor.status_code, poor.json()["code"], poor.json()["field"]) == (422, "insufficient_funds", "price_fen")
    assert db.get(ForcedSale, sale_id).status == "listed"
    assert ledger.transfers_by_cause(db, "forced_sale", sale_id) == []
    _fund(db, make, asset, asset.stranger.organisation.id, 500_000_000, "SALE-3")
    assert client.post(buy, headers=bearer(asset.stranger)).status_code == 200
    late = make.user(organisation=make.org(org_type="buyer"))
    for lang, text in (("zh", "已关闭"), ("en", "is closed")):
        closed = client.post(buy, headers={**bearer(late), "Accept-Language": lang})
        assert (closed.status_code, closed.json()["code"]) == (409, "sale_closed")
        assert text in closed.json()["detail"]
    assert client.post("/api/v1/finance/forced-sales/999999/buy", headers=bearer(late)).status_code == 404
    assert client.post(buy).status_code == 401


def test_the_sales_page_and_the_lookup_show_the_offer(client, db, make, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    _pledge_id, listed = _list(client, db, asset, bearer, days=0)
    sale_id = listed["forced_sale"]["id"]
    page = client.get("/finance/sales")
    assert page.status_code == 200
    assert asset.number in page.text
    assert "强制出售" in page.text
    assert f'id="buy-{sale_id}"' not in page.text  # a visitor may not buy
    assert f'id="buy-{sale_id}"' not in client.get(f"/finance/sales/{sale_id}").text
    sign_in(client, asset.stranger)
    assert f'id="buy-{sale_id}"' in client.get("/finance/sales").text
    # the sale's own page (where the lookup and the product page lead) sells too, not only the list
    assert f'id="buy-{sale_id}"' in client.get(f"/finance/sales/{sale_id}").text
    sign_in(client, asset.bank)
    assert f'id="buy-{sale_id}"' not in client.get("/finance/sales").text  # its own sale
    assert f'id="buy-{sale_id}"' not in client.get(f"/finance/sales/{sale_id}").text
    lookup = client.get(f"/finance/lookup?number={asset.number}")
    assert f'id="sale-{sale_id}"' in lookup.text


def test_the_bank_withdraws_its_forced_sale_before_anyone_buys(client, db, make, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    from qianshu.translog import service as log

    pledge_id, listed = _list(client, db, asset, bearer, days=0)
    sale_id = listed["forced_sale"]["id"]
    withdraw = f"/api/v1/finance/forced-sales/{sale_id}/withdraw"
    # only its pledgee withdraws it; refusals change nothing
    assert client.post(withdraw, json={}).status_code == 401
    for who in (asset.other_bank, asset.holder, asset.stranger):
        assert client.post(withdraw, json={}, headers=bearer(who)).status_code in (403, 404)
    assert client.post("/api/v1/finance/forced-sales/999999/withdraw", json={},
                       headers=bearer(asset.bank)).status_code == 404
    db.expire_all()
    assert (db.get(ForcedSale, sale_id).status, db.get(Pledge, pledge_id).status) == ("listed", "selling")
    size = log.tree_size(db)
    done = client.post(withdraw, json={"reason": "借款人已还款"}, headers=bearer(asset.bank))
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "withdrawn"
    assert done.json()["closed_at"]
    db.expire_all()
    pledge = db.get(Pledge, pledge_id)
    assert pledge.status == "active"  # enforceable as before
    last = pledge.events[-1]
    assert (last.action, last.details, last.log_index) == (
        "sale_withdrawn", {"sale_id": sale_id, "reason": "借款人已还款"}, size)
    assert log.tree_size(db) == size + 1
    assert client.get("/api/v1/finance/forced-sales").json() == []
    assert f'id="buy-{sale_id}"' not in client.get("/finance/sales").text
    assert f'id="sale-{sale_id}"' not in client.get(f"/finance/lookup?number={asset.number}").text
    told = db.scalars(select(Notification).where(Notification.message == sale.WITHDRAWN)).all()
    assert [n.org_id for n in told] == [asset.holder.organisation.id]
    # a withdrawn sale is neither bought nor withdrawn again: a 409 in both languages
    _fund(db, make, asset, asset.stranger.organisation.id, 600_000_000, "SALE-W")
    for url, who in ((f"/api/v1/finance/forced-sales/{sale_id}/buy", asset.stranger), (withdraw, asset.bank)):
        answers = {lang: client.post(url, json={}, headers={**bearer(who), "Accept-Language": lang})
                   for lang in ("zh", "en")}
        assert {(a.status_code, a.json()["code"]) for a in answers.values()} == {(409, "sale_closed")}
        assert "撤回" in answers["zh"].json()["detail"]
        assert "withdrawn" in answers["en"].json()["detail"]
    assert ledger.transfers_by_cause(db, "forced_sale", sale_id) == []
    # the pledge is offered anew, and this time bought
    again = client.post(f"/api/v1/finance/pledges/{pledge_id}/enforce", headers=bearer(asset.bank),
                        json={"reason": "仍未还款", "mode": "sale", "price_fen": 500_000_000})
    assert again.status_code == 200, again.text
    new_id = again.json()["forced_sale"]["id"]
    assert new_id != sale_id
    assert client.post(f"/api/v1/finance/forced-sales/{new_id}/buy", headers=bearer(asset.stranger)).status_code == 200
    db.expire_all()
    assert db.get(Pledge, pledge_id).status == "enforced"
    assert db.get(ForcedSale, sale_id).status == "withdrawn"


def test_the_lookup_page_withdraws_a_forced_sale_through_its_form(client, db, make, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    from tests.registry.helpers import sign_in

    pledge_id, listed = _list(client, db, asset, bearer, days=0)
    sale_id = listed["forced_sale"]["id"]
    held = sign_in(client, asset.holder)
    assert f'id="withdraw-{pledge_id}"' not in client.get(f"/finance/lookup?number={asset.number}").text
    client.post("/sign-out", data={"csrf_token": held})
    client.cookies.clear()
    token = sign_in(client, asset.bank)  # the house form path: a CSRF token, a redirect
    page = client.get(f"/finance/lookup?number={asset.number}")
    assert f'id="withdraw-{pledge_id}"' in page.text
    assert "撤回强制出售" in page.text
    done = client.post(f"/finance/pledges/{pledge_id}/withdraw", data={"csrf_token": token, "reason": "借款人已还款"},
                       follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/finance/lookup?number={asset.number}"
    db.expire_all()
    assert (db.get(ForcedSale, sale_id).status, db.get(Pledge, pledge_id).status) == ("withdrawn", "active")
    after = client.get(f"/finance/lookup?number={asset.number}").text
    assert f'id="sale-{sale_id}"' not in after
    assert f'id="withdraw-{pledge_id}"' not in after
    # posted again (a stale page): the same page with the refusal in Chinese, nothing changed
    stale = client.post(f"/finance/pledges/{pledge_id}/withdraw", data={"csrf_token": token, "reason": ""},
                        follow_redirects=False)
    assert stale.status_code == 409
    assert "该质押没有挂牌中的强制出售" in stale.text
