"""A product with personal data behind it and contracts on it, for the data API and sandbox tests:
made through the services, in the test's session or in an isolated database whose commits are real."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.accounts.schemas import TokenIn
from qianshu.catalog.models import Listing
from qianshu.catalog.schemas import PlanIn
from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.settings import Settings
from qianshu.exchange import contracts as exchange_contracts
from qianshu.exchange import orders as exchange_orders
from qianshu.exchange.models import Contract
from qianshu.exchange.schemas import OrderIn
from qianshu.ledger import service as ledger
from tests.catalog.conftest import make_listed
from tests.delivery.sandbox_data import people_table
from tests.factories import Factories

SCENARIO = "城市交通拥堵分析与信号灯配时优化研究"


@dataclass
class Setup:
    merchant: Actor
    buyer: Actor
    other_buyer: Actor
    operator: Actor
    listing: Listing
    api_contract: Contract  # per_call, api
    rows_contract: Contract  # per_1000_rows, api
    sandbox_contract: Contract  # per_call, sandbox
    buyer_token: str
    merchant_token: str
    other_token: str


def _contract(db: Session, buyer: Actor, merchant: Actor, listing: Listing, plan: int) -> Contract:
    order = exchange_orders.place_order(db, buyer, OrderIn(listing_id=listing.id, plan_id=listing.plans[plan].id,
                                                           purpose="research", scenario=SCENARIO))
    contract = exchange_orders.accept_order(db, merchant, order.id)
    exchange_contracts.sign(db, buyer, contract.id)
    exchange_contracts.sign(db, merchant, contract.id)
    return contract


def _token(db: Session, make: Factories, actor: Actor) -> str:
    from qianshu.accounts.models import User

    user = db.get(User, actor.user_id)
    _token, raw = accounts.create_token(db, accounts.actor_for(user, via="api", ip="127.0.0.1"),
                                        TokenIn(name="test", scopes=["read", "write"]))
    return raw


def make_setup(db: Session, settings: Settings, tmp: Path, rows: int = 2000, data: Path | None = None) -> Setup:
    """``data``: the product's Parquet (default: ``rows`` residents of sandbox_data.people_table)."""
    make = Factories(db)
    merchant = make.actor(make.user())
    operator = make.actor(make.operator())
    buyer = make.actor(make.user(organisation=make.org(org_type="buyer")))
    other = make.actor(make.user(organisation=make.org(org_type="buyer")))
    path = data or tmp / "people.parquet"
    if data is None:
        pq.write_table(people_table(rows), path)
    digest, size = open_blob_store(settings).put_file(path)
    plans = [PlanIn(kind="per_call", price="0.05", delivery_modes=["api"]),
             PlanIn(kind="per_1000_rows", price="2", delivery_modes=["api"]),
             PlanIn(kind="per_call", price="1", delivery_modes=["sandbox"])]
    listing = make_listed(db, merchant, operator, plans=plans, parquet_sha256=digest, parquet_size=size)
    contracts = [_contract(db, buyer, merchant, listing, plan) for plan in range(3)]
    ledger.deposit(db, operator, org_id=buyer.org_id or 0, amount_fen=1_000_000,
                   bank_reference=f"ICBC-T-{buyer.org_id}")
    db.flush()
    return Setup(merchant, buyer, other, operator, listing, *contracts, _token(db, make, buyer),
                 _token(db, make, merchant), _token(db, make, other))


def bearer(token: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {token}"}
