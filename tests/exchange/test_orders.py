"""Orders and quotes, against the real database: each user story and each bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.catalog import service as catalog
from qianshu.catalog.schemas import PlanIn, PolicyIn
from qianshu.core import inbox
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from qianshu.core.timeutil import utcnow
from qianshu.exchange import contracts, orders, service, trades
from qianshu.exchange.models import Contract, Order
from qianshu.exchange.schemas import OrderIn, QuoteIn
from tests.exchange.conftest import SCENARIO
from tests.factories import Factories


def _orders(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(Order)) or 0)


def test_buyer_orders_a_plan_and_the_seller_accepts(db: Session, buyer: Actor, merchant: Actor,
                                                    listed: Any, order: Callable[..., Order]) -> None:
    product = listed(merchant)
    placed = order(product)
    assert (placed.status, placed.kind, placed.price_fen) == ("placed", "order", 120_000)
    assert placed.seller_org_id == merchant.org_id
    assert placed.scenario == SCENARIO
    # the seller's inbox says an order waits
    seller_notes = inbox.inbox(db, merchant)
    assert any(n.subject_type == "order" and n.subject_id == placed.id for n in seller_notes)
    assert trades.next_steps(db, merchant).orders_to_accept == 1
    contract = orders.accept_order(db, merchant, placed.id)
    assert placed.status == "accepted"
    assert contract.status == "pending"
    doc = contract.document
    assert doc["buyer"]["uscc"]
    assert doc["seller"]["uscc"]
    assert doc["price_fen"] == 120_000
    assert doc["product"]["registration_number"].startswith("QS-DR-")
    assert doc["usage_policy"]["@type"] == "Offer"  # the plan's ODRL policy, frozen
    assert trades.next_steps(db, buyer).contracts_to_sign == 1


def test_quote_requested_answered_and_accepted(db: Session, buyer: Actor, merchant: Actor, listed: Any,
                                               order: Callable[..., Order]) -> None:
    product = listed(merchant, plans=[PlanIn(kind="quote", delivery_modes=["api"])])
    asked = order(product)
    assert (asked.status, asked.price_fen) == ("requested", None)
    assert trades.next_steps(db, merchant).quotes_to_answer == 1
    orders.quote(db, merchant, asked.id, QuoteIn(price="45000.50", terms="季度更新", expires_in_days=3))
    assert (asked.status, asked.price_fen, asked.terms) == ("quoted", 4_500_050, "季度更新")
    assert trades.next_steps(db, buyer).quotes_to_decide == 1
    contract = orders.accept_quote(db, buyer, asked.id)
    assert contract.price_fen == 4_500_050
    assert contract.document["terms"] == "季度更新"


def test_a_buyer_may_negotiate_a_priced_plan(db: Session, merchant: Actor, listed: Any,
                                             order: Callable[..., Order]) -> None:
    asked = order(listed(merchant), negotiate=True)
    assert (asked.kind, asked.status, asked.price_fen) == ("quote", "requested", None)


def test_expired_quote_is_refused_and_expires(db: Session, buyer: Actor, merchant: Actor, listed: Any,
                                              order: Callable[..., Order]) -> None:
    asked = order(listed(merchant), negotiate=True)
    orders.quote(db, merchant, asked.id, QuoteIn(price="100", expires_in_days=1))
    asked.quote_expires_at = utcnow() - timedelta(seconds=1)
    db.flush()
    with pytest.raises(Conflict) as caught:
        orders.accept_quote(db, buyer, asked.id)
    assert caught.value.field == "quote_expires_at"
    assert "过期" in caught.value.render("zh")
    assert "expired" in caught.value.render("en")
    assert db.scalar(select(func.count()).select_from(Contract)) == 0
    assert contracts.expire_due(db) == (1, 0)
    assert asked.status == "expired"


def test_seller_refuses_with_a_reason(db: Session, buyer: Actor, merchant: Actor, listed: Any,
                                      order: Callable[..., Order]) -> None:
    placed = order(listed(merchant))
    with pytest.raises(InvalidInput) as caught:
        orders.refuse(db, merchant, placed.id, " ")
    assert caught.value.field == "reason"
    orders.refuse(db, merchant, placed.id, "该场景不在我方服务范围")
    assert placed.status == "refused"
    with pytest.raises(Conflict):
        orders.accept_order(db, merchant, placed.id)


@pytest.mark.parametrize(("change", "field"), [
    ({"purpose": "marketing"}, "purpose"),  # the plan's policy permits research and internal analytics
    ({"scenario": "太短"}, None),  # schema: at least 10 characters
    ({"delivery_mode": "sandbox"}, "delivery_mode"),
])
def test_bad_orders_are_refused_naming_the_field(db: Session, merchant: Actor, listed: Any,
                                                 order: Callable[..., Order], change: dict[str, Any],
                                                 field: str | None) -> None:
    product = listed(merchant)
    before = _orders(db)
    with pytest.raises((InvalidInput, ValueError)) as caught:
        order(product, **change)
    if field:
        assert isinstance(caught.value, InvalidInput)
        assert caught.value.field == field
        assert caught.value.render("zh") != caught.value.render("en")
    assert _orders(db) == before


def test_forbidden_purpose_names_what_the_policy_permits(db: Session, merchant: Actor, listed: Any,
                                                         order: Callable[..., Order]) -> None:
    product = listed(merchant, plans=[PlanIn(kind="one_time", price="10", delivery_modes=["download"],
                                             policy=PolicyIn(purposes=["public_service"]))])
    with pytest.raises(InvalidInput) as caught:
        order(product, purpose="commercial")
    assert "public_service" in caught.value.render("en")
    assert order(product, purpose="public_service").status == "placed"


def test_ordering_ones_own_product_is_refused(db: Session, merchant: Actor, listed: Any,
                                              order: Callable[..., Order]) -> None:
    with pytest.raises(InvalidInput) as caught:
        order(listed(merchant), actor=merchant)
    assert caught.value.field == "listing_id"
    assert _orders(db) == 0


def test_delisted_product_and_withdrawn_plan(db: Session, buyer: Actor, merchant: Actor, listed: Any,
                                             order: Callable[..., Order]) -> None:
    product = listed(merchant, plans=[PlanIn(kind="one_time", price="10", delivery_modes=["download"]),
                                      PlanIn(kind="monthly", price="5", delivery_modes=["download"])])
    catalog.withdraw_plan(db, merchant, product.id, product.plans[1].id)
    with pytest.raises(InvalidInput) as caught:
        order(product, plan=1)
    assert caught.value.field == "plan_id"
    placed = order(product)
    catalog.delist_listing(db, merchant, product.id, "停止供应")
    with pytest.raises(Conflict) as conflict:  # delisted after the order: the seller cannot accept it
        orders.accept_order(db, merchant, placed.id)
    assert conflict.value.field == "listing_id"
    with pytest.raises(InvalidInput) as again:
        order(product)
    assert again.value.field == "listing_id"


def test_plan_withdrawn_between_order_and_acceptance(db: Session, merchant: Actor, listed: Any,
                                                     order: Callable[..., Order]) -> None:
    product = listed(merchant)
    placed = order(product)
    catalog.add_plan(db, merchant, product.id, PlanIn(kind="yearly", price="9", delivery_modes=["download"]))
    catalog.withdraw_plan(db, merchant, product.id, product.plans[0].id)
    with pytest.raises(Conflict) as caught:
        orders.accept_order(db, merchant, placed.id)
    assert caught.value.field == "plan_id"
    assert placed.status == "placed"


def test_third_parties_cannot_see_or_act(db: Session, make: Factories, buyer: Actor, merchant: Actor,
                                         listed: Any, order: Callable[..., Order]) -> None:
    third = make.actor(make.user(organisation=make.org(org_type="buyer")))
    placed = order(listed(merchant))
    for attempt in (lambda: service.get_order(db, third, placed.id),
                    lambda: orders.accept_order(db, third, placed.id),
                    lambda: orders.refuse(db, third, placed.id, "x"),
                    lambda: orders.withdraw(db, third, placed.id)):
        with pytest.raises(NotFound):
            attempt()
    with pytest.raises(PermissionDenied):  # the buyer cannot accept its own order for the seller
        orders.accept_order(db, buyer, placed.id)
    assert placed.status == "placed"


def test_pending_organisation_cannot_order(db: Session, make: Factories, merchant: Actor, listed: Any) -> None:
    pending = make.actor(make.user(organisation=make.org(org_type="buyer", status="pending")))
    product = listed(merchant)
    with pytest.raises(PermissionDenied):
        orders.place_order(db, pending, OrderIn(listing_id=product.id, plan_id=product.plans[0].id,
                                                purpose="research", scenario=SCENARIO))
