"""The demo's trades, made through the exchange's services: the demo buyer (whose wallet the
ledger's demo step filled) finds in "my trades" a contract in force and paid into escrow (the
seller is to deliver), one waiting for its acceptance, a quote to decide on and an order the
seller has not answered yet, and a contract settled whose data it found partly unusable, with a
refund request waiting for the seller's answer; the sellers find the other side of each.

The two years of trading history behind the statistics page (``exchange_history``) are queued as
the job ``exchange.demo_history``, which the portal's job worker runs once the portal is up."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.catalog.models import Listing, PricingPlan
from qianshu.catalog.policy import terms_from_odrl
from qianshu.core import jobs
from qianshu.core.actor import Actor
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.demo.registrations import actor_of
from qianshu.exchange import contracts as exchange_contracts
from qianshu.exchange import orders as exchange_orders
from qianshu.exchange import payments, refunds
from qianshu.exchange.schemas import OrderIn, QuoteIn
from qianshu.exchange.settings import ExchangeSettings

SCENARIOS = (
    "物流园区车辆调度与干线运输时效分析，用于优化配送路线。",
    "冷链物流线路的天气风险评估，提前安排绕行和备货。",
    "仓储选址研究：比较各区县的客流、交通与人口分布。",
    "内部经营分析：按月评估城市配送需求与高峰时段。",
)


def priced_offers(db: Session, buyer: Actor) -> list[tuple[Listing, PricingPlan, str]]:
    """Listed products of other organisations with a priced plan, and a purpose its policy permits."""
    found = []
    for listing in db.scalars(select(Listing).where(Listing.status == "listed", Listing.org_id != buyer.org_id)
                              .order_by(Listing.id)):
        for plan in listing.plans:
            purposes = terms_from_odrl(plan.policy or {}).purposes
            if plan.active and plan.kind != "free" and purposes:
                found.append((listing, plan, purposes[0]))
                break
    return found


def seed(database: Database, settings: Settings, org_ids: dict[str, int]) -> None:
    with database.unit_of_work() as db:
        buyer = actor_of(db, "buyer.logistics@qianshu.demo")
        offers = priced_offers(db, buyer)[:4]
        sellers = {o.org_id: seller_actor(db, o.org_id) for o, _p, _u in offers}
        orders = [exchange_orders.place_order(db, buyer, OrderIn(
            listing_id=listing.id, plan_id=plan.id, purpose=purpose,
            scenario=SCENARIOS[i % len(SCENARIOS)], negotiate=i == 2 and plan.kind != "quote"))
            for i, (listing, plan, purpose) in enumerate(offers)]
        for i, order in enumerate(orders):
            seller = sellers[order.seller_org_id]
            if seller is None:
                continue
            if i in (0, 1) and order.status == "placed":
                contract = exchange_orders.accept_order(db, seller, order.id)
                exchange_contracts.sign(db, seller, contract.id)
                if i == 0:  # in force and paid; the second waits for the buyer's acceptance
                    exchange_contracts.sign(db, buyer, contract.id)
                    payments.pay(db, buyer, contract.id)
            elif i == 2 and order.status == "requested":
                exchange_orders.quote(db, seller, order.id, QuoteIn(price="38000",
                                                                    terms="按季度交付更新，含一次技术支持。",
                                                                    expires_in_days=14))
        _refund_request(db, buyer, priced_offers(db, buyer), settings.section(ExchangeSettings))
        history = settings.section(ExchangeSettings).demo_history_contracts
        if history:
            jobs.enqueue(db, "exchange.demo_history", {"contracts": history, "now": utcnow().isoformat()})


def seller_actor(db: Session, org_id: int) -> Actor | None:
    from qianshu.accounts.models import User

    email = db.scalar(select(User.email).where(User.org_id == org_id, User.org_role == "admin").order_by(User.id))
    return actor_of(db, email) if email else None


def _refund_request(db: Session, buyer: Actor, offers: list[tuple[Listing, PricingPlan, str]],
                    settings: ExchangeSettings) -> None:
    """A one-time (else subscription) trade the demo buyer settled, then asked a fifth of it back for:
    the request waits for the seller's answer (the seller's "waiting for you", the contract page)."""
    for listing, plan, purpose in sorted(offers, key=lambda offer: offer[1].kind != "one_time"):
        seller = seller_actor(db, listing.org_id)
        if plan.kind not in ("one_time", "monthly", "yearly") or seller is None:
            continue
        order = exchange_orders.place_order(db, buyer, OrderIn(listing_id=listing.id, plan_id=plan.id, purpose=purpose,
                                                               scenario=SCENARIOS[3]))
        contract = exchange_orders.accept_order(db, seller, order.id)
        exchange_contracts.sign(db, seller, contract.id)
        exchange_contracts.sign(db, buyer, contract.id)
        payments.pay(db, buyer, contract.id)
        payments.deliver(db, seller, contract.id)
        payments.accept_delivery(db, buyer, contract.id, settings)
        refunds.request_refund(db, buyer, contract.id, max(contract.price_fen // 5, 1),
                               "约五分之一的记录缺少站点编号，无法用于线路分析，申请按比例退款。", settings)
        return
