"""The demo's deliveries through the data API and the sandbox, made through delivery's services:
the demo buyer holds a pay-per-call contract delivered by API (a key issued, a few pages read,
the usage batch reported to billing: it shows on the contract's timeline at once and is charged
with the month's other usage when the month is over) and a sandbox contract (paid; a few
aggregate questions asked, one refused), so that both parties find the API usage, the privacy
budget and the query log on the contract pages."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.catalog.models import Listing, PricingPlan
from qianshu.catalog.policy import terms_from_odrl
from qianshu.core.actor import Actor
from qianshu.core.db import Database
from qianshu.core.errors import QianshuError
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.delivery import data_api, sandbox_service
from qianshu.delivery import limits as api_limits
from qianshu.delivery.settings import DeliverySettings
from qianshu.demo.registrations import actor_of
from qianshu.exchange import contracts, orders, payments, service
from qianshu.exchange.schemas import OrderIn

BUYER = "buyer.logistics@qianshu.demo"
SCENARIO = "城市配送需求分析：按区县统计客流与配送高峰，用于安排运力。"
QUESTIONS = ("SELECT count(*) AS n FROM data",
             "SELECT * FROM data")  # the second is refused: the seller sees both in the log


def _plan(db: Session, buyer: Actor, mode: str, kinds: tuple[str, ...]) -> tuple[Listing, PricingPlan, str] | None:
    for listing in db.scalars(select(Listing).where(Listing.status == "listed", Listing.org_id != buyer.org_id)
                              .order_by(Listing.id)):
        for plan in listing.plans:
            purposes = terms_from_odrl(plan.policy or {}).purposes or ["research"]
            if plan.active and plan.kind in kinds and mode in plan.delivery_modes:
                return listing, plan, purposes[0]
    return None


def _seller(db: Session, org_id: int) -> Actor | None:
    from qianshu.accounts.models import User

    email = db.scalar(select(User.email).where(User.org_id == org_id, User.org_role == "admin").order_by(User.id))
    return actor_of(db, email) if email else None


def _contract(db: Session, buyer: Actor, offer: tuple[Listing, PricingPlan, str], mode: str) -> int | None:
    listing, plan, purpose = offer
    seller = _seller(db, listing.org_id)
    if seller is None:
        return None
    order = orders.place_order(db, buyer, OrderIn(listing_id=listing.id, plan_id=plan.id, purpose=purpose,
                                                  scenario=SCENARIO, delivery_mode=mode))
    contract = orders.accept_order(db, seller, order.id)
    contracts.sign(db, seller, contract.id)
    contracts.sign(db, buyer, contract.id)
    if contract.plan_kind in service.PREPAID_KINDS and contract.price_fen > 0:
        payments.pay(db, buyer, contract.id)
    return contract.id


def seed(database: Database, settings: Settings, org_ids: dict[str, int]) -> None:
    with database.unit_of_work() as db:
        buyer = actor_of(db, BUYER)
        api_offer = _plan(db, buyer, "api", ("per_call", "per_1000_rows"))
        sandbox_offer = _plan(db, buyer, "sandbox", ("monthly", "yearly", "one_time", "per_call"))
        api_contract = _contract(db, buyer, api_offer, "api") if api_offer else None
        sandbox_contract = _contract(db, buyer, sandbox_offer, "sandbox") if sandbox_offer else None
        raw = data_api.issue_key(db, buyer, api_contract)[1] if api_contract else None
        seller = _seller(db, api_offer[0].org_id) if api_offer and api_contract else None
        if seller is not None and api_contract is not None:  # the seller's own limits for this contract
            api_limits.set_limits(db, seller, settings.section(DeliverySettings), api_contract, rate_per_minute=60,
                                  quota_period="month", calls_per_period=50_000, rows_per_period=2_000_000)
    if raw is not None:
        cursor = None
        for _page in range(2):
            try:
                page = data_api.fetch_rows(database, settings, raw, limit=20, cursor=cursor)
            except QianshuError:  # a product without data: the contract stays, without usage
                break
            cursor = page.next_cursor
            if cursor is None:
                break
        section = settings.section(DeliverySettings)
        later = utcnow() + timedelta(seconds=section.api_meter_seconds + section.api_meter_grace_seconds + 1)
        with database.unit_of_work() as db:
            data_api.report_usage(db, section, now=later)  # the bill shows the demo's calls at once
    if sandbox_contract is not None:
        with database.unit_of_work(write=False) as db:
            buyer = actor_of(db, BUYER)
        for sql in QUESTIONS:
            with contextlib.suppress(QianshuError):  # refused, and logged for the seller
                sandbox_service.run_contract_query(database, buyer, settings, sandbox_contract, sql)
