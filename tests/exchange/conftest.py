"""Exchange test helpers: the catalogue's fixtures (merchant, buyer, operator, listed products)
and a few steps of a trade in one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from qianshu.catalog.models import Listing
from qianshu.core.actor import Actor
from qianshu.exchange import contracts, orders
from qianshu.exchange.models import Contract, Order
from qianshu.exchange.schemas import OrderIn
from tests.catalog.conftest import buyer, listed, merchant, operator, registration  # noqa: F401 - fixtures

SCENARIO = "城市交通拥堵分析与信号灯配时优化研究"


@pytest.fixture
def order(db: Session, buyer: Actor) -> Callable[..., Order]:  # noqa: F811 - the fixture above
    def _make(listing: Listing, *, actor: Actor | None = None, plan: int = 0, **kwargs: Any) -> Order:
        values: dict[str, Any] = {"listing_id": listing.id, "plan_id": listing.plans[plan].id,
                                  "purpose": "research", "scenario": SCENARIO}
        values.update(kwargs)
        return orders.place_order(db, actor or buyer, OrderIn(**values))

    return _make


@pytest.fixture
def signed(db: Session, buyer: Actor, merchant: Actor, listed: Any,  # noqa: F811
           order: Callable[..., Order]) -> Callable[..., Contract]:
    """A contract in force between ``buyer`` and ``merchant`` for a fresh listed product."""

    def _make(**listing_kwargs: Any) -> Contract:
        product = listed(merchant, **listing_kwargs)
        contract = orders.accept_order(db, merchant, order(product).id)
        contracts.sign(db, buyer, contract.id)
        contracts.sign(db, merchant, contract.id)
        return contract

    return _make


@pytest.fixture
def fund(db: Session, operator: Actor) -> Callable[[Actor, int], None]:  # noqa: F811
    """``fund(actor, fen)``: the operator books a bank deposit into the actor organisation's wallet."""
    from qianshu.ledger import service as ledger

    counter = [0]

    def _fund(who: Actor, fen: int) -> None:
        counter[0] += 1
        ledger.deposit(db, operator, org_id=who.org_id or 0, amount_fen=fen,
                       bank_reference=f"ICBC-TEST-{who.org_id}-{counter[0]}")

    return _fund
