"""The order page's controls: who sees which button of an order in each of its states, and what a
post that the page would not offer gets (the same page with the refusal, or a 404 for a stranger)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from qianshu.core.timeutil import utcnow
from qianshu.exchange import contracts, orders
from qianshu.exchange.models import Order
from qianshu.exchange.schemas import OrderIn, QuoteIn
from tests.accounts.test_portal import csrf, sign_in
from tests.exchange.conftest import SCENARIO
from tests.factories import Factories

# The page's controls, by the path each form posts to (``accept-quote`` before ``accept``: the
# one's path is not a prefix of the other's, as each is matched with its closing quote).
CONTROLS = ("accept", "quote", "refuse", "accept-quote", "withdraw")
SELLER_ANSWERS = {"placed": {"accept", "quote", "refuse"}, "requested": {"quote", "refuse"},
                  "quoted": {"quote", "refuse"}}
BUYER_DECIDES = {"placed": {"withdraw"}, "requested": {"withdraw"}, "quoted": {"accept-quote", "withdraw"}}


def controls(page: str, order_id: int) -> set[str]:
    return {c for c in CONTROLS if f'action="/exchange/orders/{order_id}/{c}"' in page}


@pytest.fixture
def trade_orders(db: Session, make: Factories, listed: Any) -> dict[str, Any]:
    """One order in each state between a merchant and a buyer, and the people who look at them."""
    seller_org, buyer_org = make.org(), make.org(org_type="buyer")
    people = {
        "seller admin": make.user(organisation=seller_org),
        "seller member": make.user(organisation=seller_org, org_role="member"),
        "seller monitoring admin": make.user(organisation=seller_org, org_role="monitoring_admin"),
        "buyer admin": make.user(organisation=buyer_org),
        "buyer member": make.user(organisation=buyer_org, org_role="member"),
        "operator": make.operator(),
        "reviewer": make.operator(staff_role="reviewer"),
        "auditor": make.operator(staff_role="auditor"),
        "stranger": make.user(),
    }
    seller, buyer = make.actor(people["seller admin"]), make.actor(people["buyer admin"])
    product = listed(seller)

    def place(negotiate: bool = False) -> Order:
        return orders.place_order(db, buyer, OrderIn(listing_id=product.id, plan_id=product.plans[0].id,
                                                     purpose="research", scenario=SCENARIO, negotiate=negotiate))

    def quoted() -> Order:
        order = place(negotiate=True)
        return orders.quote(db, seller, order.id, QuoteIn(price="900"))

    made = {"placed": place(), "requested": place(negotiate=True), "quoted": quoted()}
    made["expired"] = quoted()
    made["expired"].quote_expires_at = utcnow() - timedelta(hours=1)
    db.flush()
    contracts.expire_due(db)
    made["quote past its expiry"] = quoted()  # and the periodic task has not closed it yet
    made["quote past its expiry"].quote_expires_at = utcnow() - timedelta(hours=1)
    made["refused"] = orders.refuse(db, seller, place().id, "不服务此场景")
    made["withdrawn"] = orders.withdraw(db, buyer, place().id, "不再需要")
    made["accepted"] = place()
    orders.accept_order(db, seller, made["accepted"].id)
    db.flush()
    assert made["expired"].status == "expired"
    assert made["quote past its expiry"].status == "quoted"
    return {"people": people, "orders": made, "buyer_org": buyer_org, "seller_org": seller_org}


def _expected(who: str, state: str) -> set[str]:
    status = "quoted" if state == "quote past its expiry" else state
    if who in ("seller admin", "seller member"):
        return SELLER_ANSWERS.get(status, set())
    if who in ("buyer admin", "buyer member"):  # a quote past its expiry is not offered for acceptance
        return BUYER_DECIDES.get(status, set()) - ({"accept-quote"} if state == "quote past its expiry" else set())
    return set()


def test_each_viewer_sees_the_buttons_of_the_next_step_it_may_take(client: Any, trade_orders: dict[str, Any]) -> None:
    """The seller's members answer an open order (accept only one at the plan's price), the buyer's
    accept a quote or withdraw; staff and other roles read it without buttons; a stranger gets a 404."""
    for who, user in trade_orders["people"].items():
        client.cookies.clear()
        assert sign_in(client, user.email).status_code == 303
        for state, order in trade_orders["orders"].items():
            page = client.get(f"/exchange/orders/{order.id}")
            if who == "stranger":
                assert page.status_code == 404, (who, state)
                continue
            assert page.status_code == 200, (who, state, page.text)
            assert 'id="order-status"' in page.text
            assert controls(page.text, order.id) == _expected(who, state), (who, state)
            assert ('id="accept-order"' in page.text) == ("accept" in _expected(who, state))
            assert ('id="quote-form"' in page.text) == ("quote" in _expected(who, state))
            assert ('id="accept-quote"' in page.text) == ("accept-quote" in _expected(who, state))
            assert ('id="quote-expired"' in page.text) == (state == "quote past its expiry")


def test_a_visitor_is_asked_to_sign_in(client: Any, trade_orders: dict[str, Any]) -> None:
    order = trade_orders["orders"]["placed"]
    assert client.get(f"/exchange/orders/{order.id}").status_code == 401
    assert client.get("/exchange/orders/999999999").status_code == 401


def test_an_organisation_no_longer_approved_reads_its_orders_without_buttons(
        client: Any, db: Session, trade_orders: dict[str, Any]) -> None:
    for org, who in ((trade_orders["buyer_org"], "buyer member"), (trade_orders["seller_org"], "seller member")):
        org.status = "suspended"
        db.flush()
        client.cookies.clear()
        assert sign_in(client, trade_orders["people"][who].email).status_code == 303
        for state, order in trade_orders["orders"].items():
            page = client.get(f"/exchange/orders/{order.id}")
            assert page.status_code == 200, (who, state)
            assert controls(page.text, order.id) == set(), (who, state)
        org.status = "approved"
        db.flush()


def test_a_missing_order_is_a_404(client: Any, trade_orders: dict[str, Any]) -> None:
    sign_in(client, trade_orders["people"]["operator"].email)
    assert client.get("/exchange/orders/999999999").status_code == 404


def test_a_post_the_page_would_not_offer_is_refused_on_the_page(client: Any, db: Session,
                                                                 trade_orders: dict[str, Any]) -> None:
    """The buyer accepting its own order, the seller withdrawing it, an operator answering it: 403 on
    the order page, which says why; a stranger: 404; a step its state does not allow: 409. Nothing moves."""
    people, made = trade_orders["people"], trade_orders["orders"]
    placed, refused = made["placed"], made["refused"]
    refusals = (("buyer member", "accept", placed, 403), ("seller admin", "withdraw", placed, 403),
                ("operator", "refuse", placed, 403), ("seller admin", "accept-quote", placed, 403),
                ("buyer admin", "quote", placed, 403), ("stranger", "accept", placed, 404),
                ("seller admin", "accept", refused, 409), ("buyer admin", "withdraw", refused, 409),
                ("seller admin", "accept", made["requested"], 409),
                ("buyer admin", "accept-quote", made["quote past its expiry"], 409),
                ("seller member", "nothing", placed, 404))
    for who, action, order, status in refusals:
        client.cookies.clear()
        sign_in(client, people[who].email)
        token = csrf(client, "/exchange/trades")
        answer = client.post(f"/exchange/orders/{order.id}/{action}",
                             data={"csrf_token": token, "reason": "试试", "price": "100"}, follow_redirects=False)
        assert answer.status_code == status, (who, action, answer.text)
        if status in (403, 409) and action != "nothing":
            assert 'id="order-error"' in answer.text, (who, action)
            assert 'id="order-status"' in answer.text
        db.refresh(order)
    assert (placed.status, refused.status) == ("placed", "refused")


def test_a_step_the_platform_took_names_the_system_in_the_pages_language(client: Any,
                                                                         trade_orders: dict[str, Any]) -> None:
    """The periodic task closed the expired quote: its step is the system's, in words of the page."""
    sign_in(client, trade_orders["people"]["buyer admin"].email)
    expired = trade_orders["orders"]["expired"].id
    for lang, word, foreign in (("zh", "系统", "System"), ("en", "System", "系统")):
        client.cookies.set("qs_lang", lang)
        timeline = client.get(f"/exchange/orders/{expired}").text.split('id="timeline"', 1)[1].split("</ol>", 1)[0]
        assert word in timeline, (lang, timeline)
        assert foreign not in timeline, (lang, timeline)
