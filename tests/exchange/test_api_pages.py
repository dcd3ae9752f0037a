"""The exchange over HTTP, as a user and an API client would use it: a whole trade through the API
with Idempotency-Keys, bilingual refusals naming the field, and the portal's pages and buttons."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core.actor import Actor
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerTransfer
from tests.accounts.test_portal import csrf, sign_in
from tests.exchange.conftest import SCENARIO
from tests.factories import Factories

A = "/api/v1/exchange"


def _users(db: Session, make: Factories) -> tuple[Any, Any]:
    seller = make.user()
    buyer = make.user(organisation=make.org(org_type="buyer"))
    return seller, buyer


def test_a_whole_trade_over_the_api(client: Any, db: Session, make: Factories, bearer: Any, listed: Any,
                                    operator: Actor) -> None:
    seller_user, buyer_user = _users(db, make)
    seller, buyer = make.actor(seller_user), make.actor(buyer_user)
    product = listed(seller)
    ledger.deposit(db, operator, org_id=buyer.org_id or 0, amount_fen=500_000, bank_reference="ICBC-API-1")
    db.flush()
    as_buyer, as_seller = bearer(buyer_user), bearer(seller_user)
    r = client.post(f"{A}/orders", headers=as_buyer, json={"listing_id": product.id, "plan_id": product.plans[0].id,
                                                          "purpose": "research", "scenario": SCENARIO})
    assert r.status_code == 201, r.text
    order = r.json()
    contract = client.post(f"{A}/orders/{order['id']}/accept", headers=as_seller).json()
    assert contract["status"] == "pending"
    assert contract["price_fen"] == 120_000
    text = client.get(f"{A}/contracts/{contract['id']}/text", headers=as_buyer)
    assert text.headers["X-Content-SHA256"] == contract["text_sha256"]
    for headers in (as_buyer, as_seller):
        r = client.post(f"{A}/contracts/{contract['id']}/sign", headers=headers,
                        json={"text_sha256": contract["text_sha256"]})
        assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    assert [s["party"] for s in r.json()["signatures"]] == ["buyer", "seller"]
    # money: a missing key is refused naming the header; a repeat moves nothing
    missing = client.post(f"{A}/contracts/{contract['id']}/pay", headers=as_buyer)
    assert missing.status_code == 422
    pay = client.post(f"{A}/contracts/{contract['id']}/pay", headers={**as_buyer, "Idempotency-Key": "pay-1"})
    assert pay.status_code == 200
    assert pay.json()["payment_status"] == "escrowed"
    again = client.post(f"{A}/contracts/{contract['id']}/pay", headers={**as_buyer, "Idempotency-Key": "pay-1"})
    assert again.json() == pay.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    twice = client.post(f"{A}/contracts/{contract['id']}/pay", headers={**as_buyer, "Idempotency-Key": "pay-2"})
    assert twice.status_code == 409
    assert ledger.balance(db, ledger.wallet_of(db, buyer.org_id or 0)) == 380_000
    r = client.post(f"{A}/contracts/{contract['id']}/refund", headers={**as_seller, "Idempotency-Key": "rf-1"},
                    json={"amount_fen": 20_000, "reason": "少两列"})
    assert r.status_code == 200
    assert r.json()["refunded_fen"] == 20_000
    reused = client.post(f"{A}/contracts/{contract['id']}/refund", headers={**as_seller, "Idempotency-Key": "rf-1"},
                         json={"amount_fen": 30_000, "reason": "少两列"})
    assert reused.status_code == 409
    assert reused.json()["code"] == "idempotency_key_reused"
    assert client.post(f"{A}/contracts/{contract['id']}/deliver",
                       headers={**as_seller, "Idempotency-Key": "d-1"}).status_code == 200
    done = client.post(f"{A}/contracts/{contract['id']}/accept-delivery",
                       headers={**as_buyer, "Idempotency-Key": "a-1"})
    assert done.status_code == 200
    assert done.json()["payment_status"] == "settled"
    assert done.json()["fee_fen"] == 2_500  # 2.5 % of the ¥1,000 left in escrow
    assert ledger.balance(db, ledger.wallet_of(db, seller.org_id or 0)) == 97_500
    trades = client.get(f"{A}/trades", headers=as_buyer).json()
    assert [c["id"] for c in trades["contracts"]] == [contract["id"]]
    steps = [t["step"] for t in client.get(f"{A}/orders/{order['id']}/timeline", headers=as_buyer).json()]
    assert steps[-2:] == ["delivery_accepted", "settled"]
    pdf = client.get(f"{A}/contracts/{contract['id']}/pdf", headers=as_buyer)
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    # a refund after settlement, agreed by the seller: refusals bilingual, naming the field
    for lang, words in (("zh", "不能大于"), ("en", "at most")):
        r = client.post(f"{A}/contracts/{contract['id']}/refund",
                        headers={**as_seller, "Idempotency-Key": f"rs-bad-{lang}", "Accept-Language": lang},
                        json={"amount_fen": 100_001, "reason": "协商退款"})
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "amount_fen"
        assert words in r.json()["detail"], r.json()
    r = client.post(f"{A}/contracts/{contract['id']}/refund", headers={**as_seller, "Idempotency-Key": "rs-1"},
                    json={"amount_fen": 10_000, "reason": "协商退款"})
    assert r.status_code == 200, r.text
    assert (r.json()["payment_status"], r.json()["refunded_fen"], r.json()["fee_fen"]) == ("settled", 30_000, 2_250)
    assert ledger.balance(db, ledger.wallet_of(db, seller.org_id or 0)) == 97_500 - 9_750


def test_bad_input_is_bilingual_and_names_the_field(client: Any, db: Session, make: Factories, bearer: Any,
                                                    listed: Any) -> None:
    seller_user, buyer_user = _users(db, make)
    product = listed(make.actor(seller_user))
    body = {"listing_id": product.id, "plan_id": product.plans[0].id, "purpose": "marketing", "scenario": SCENARIO}
    before = db.scalar(select(func.count()).select_from(LedgerTransfer))
    answers = {lang: client.post(f"{A}/orders", json=body, headers={**bearer(buyer_user), "Accept-Language": lang})
               for lang in ("zh", "en")}
    for r in answers.values():
        assert r.status_code == 422
        assert r.json()["field"] == "purpose"
    assert "不允许" in answers["zh"].json()["detail"]
    assert "does not permit" in answers["en"].json()["detail"]
    own = client.post(f"{A}/orders", headers=bearer(seller_user), json={**body, "purpose": "research"})
    assert own.status_code == 422
    assert own.json()["field"] == "listing_id"
    for bad in ({"scenario": "短"}, {"plan_id": "x"}, {"purpose": "spying"}, {"listing_id": 10**30}):
        r = client.post(f"{A}/orders", headers=bearer(buyer_user), json={**body, "purpose": "research", **bad})
        assert r.status_code == 422, (bad, r.text)
    assert client.get(f"{A}/orders/999999", headers=bearer(buyer_user)).status_code == 404
    assert db.scalar(select(func.count()).select_from(LedgerTransfer)) == before


def test_portal_order_button_form_and_trade_pages(client: Any, db: Session, make: Factories, listed: Any) -> None:
    seller_user, buyer_user = _users(db, make)
    product = listed(make.actor(seller_user))
    plan = product.plans[0]
    sign_in(client, buyer_user.email)
    page = client.get(f"/catalog/{product.id}").text
    assert f'id="order-plan-{plan.id}"' in page
    form = client.get(f"/exchange/order?listing_id={product.id}&plan_id={plan.id}")
    assert form.status_code == 200
    assert 'name="scenario"' in form.text
    token = csrf(client, f"/exchange/order?listing_id={product.id}&plan_id={plan.id}")
    refused = client.post("/exchange/orders", data={"csrf_token": token, "listing_id": product.id,
                                                    "plan_id": plan.id, "purpose": "research", "scenario": "短"})
    assert refused.status_code == 422
    assert 'id="order-error"' in refused.text
    placed = client.post("/exchange/orders", data={"csrf_token": token, "listing_id": product.id, "plan_id": plan.id,
                                                   "purpose": "research", "scenario": SCENARIO},
                         follow_redirects=False)
    assert placed.status_code == 303
    order_url = placed.headers["location"]
    assert client.get(order_url).status_code == 200
    trades = client.get("/exchange/trades").text
    assert order_url in trades
    # the seller sees the order waiting, accepts it, and both accept the contract in the portal
    client.cookies.clear()
    sign_in(client, seller_user.email)
    assert "1 个订单待接受" in client.get("/exchange/trades").text
    token = csrf(client, order_url)
    accepted = client.post(f"{order_url}/accept", data={"csrf_token": token}, follow_redirects=False)
    contract_url = accepted.headers["location"]
    page = client.get(contract_url).text
    sha = re.search(r'name="text_sha256" value="([0-9a-f]{64})"', page).group(1)  # type: ignore[union-attr]
    client.post(f"{contract_url}/sign", data={"csrf_token": token, "text_sha256": sha})
    client.cookies.clear()
    sign_in(client, buyer_user.email)
    token = csrf(client, contract_url)
    client.post(f"{contract_url}/sign", data={"csrf_token": token, "text_sha256": sha})
    page = client.get(contract_url).text
    assert 'id="contract-status">生效中' in page
    assert 'id="pay-contract"' in page
    client.get("/lang/en")
    english = client.get(contract_url).text
    # the contract's status, payment status, purpose and history read as labels in English, as in Chinese
    assert 'id="contract-status">In force</span>' in english
    assert 'id="payment-status">Unpaid</dd>' in english
    assert "<dd>Scientific research</dd>" in english
    assert " Order accepted · " in english
    assert " order accepted · " not in english
    trades_en = client.get("/exchange/trades").text
    assert "<td>Buyer</td>" in trades_en
    assert "<td>In force · Unpaid</td>" in trades_en
    assert "Pay CN¥1,200.00 from our wallet into escrow" in english


def test_my_trades_pages_through_a_long_history(client: Any, db: Session, make: Factories, bearer: Any,
                                                listed: Any, monkeypatch: Any) -> None:
    """An organisation with more contracts than a page holds reaches the oldest ones, on the page and
    through the API; a cursor that is not an id is a 422 in the API and the newest page in the portal."""
    from qianshu.exchange import orders, trades
    from qianshu.exchange.schemas import OrderIn

    monkeypatch.setattr(trades, "TRADES_PAGE", 2)
    seller_user, buyer_user = _users(db, make)
    seller, buyer = make.actor(seller_user), make.actor(buyer_user)
    numbers = []
    for _ in range(3):
        product = listed(seller)
        placed = orders.place_order(db, buyer, OrderIn(listing_id=product.id, plan_id=product.plans[0].id,
                                                       purpose="research", scenario=SCENARIO))
        contract = orders.accept_order(db, seller, placed.id)
        numbers.append(contract.number)
    db.flush()
    newest, oldest = numbers[:0:-1], numbers[:1]
    assert sign_in(client, buyer_user.email).status_code == 303
    first = client.get("/exchange/trades")
    assert re.findall(r"QS-TC-\d{4}-\d{6}", first.text) == newest
    older = re.search(r'href="(/exchange/trades\?before=\d+)" id="older-contracts"', first.text)
    assert older is not None, first.text
    second = client.get(older.group(1))
    assert re.findall(r"QS-TC-\d{4}-\d{6}", second.text) == oldest
    assert 'id="newest-contracts"' in second.text
    assert 'id="older-contracts"' not in second.text
    assert re.findall(r"QS-TC-\d{4}-\d{6}", client.get("/exchange/trades?before=abc%27--").text) == newest
    as_buyer = bearer(buyer_user)
    page = client.get(f"{A}/trades", headers=as_buyer).json()["contracts"]
    assert [c["number"] for c in page] == newest
    rest = client.get(f"{A}/trades", params={"before": page[-1]["id"]}, headers=as_buyer).json()["contracts"]
    assert [c["number"] for c in rest] == oldest
    for bad in ("abc", "0", str(2**63)):
        assert client.get(f"{A}/trades", params={"before": bad}, headers=as_buyer).status_code == 422
