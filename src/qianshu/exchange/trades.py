"""Reads of trades. For the parties: an organisation's trades ("my trades", a page at a time),
what waits for it (``next_steps``, the home page and "my trades") and an order's timeline. For other
capabilities: the contracts a product's data went out under (``recipients_of``, delivery's
watermarks), settled trades as market evidence (``settled_trades``, finance's valuations) and a
registration's settled sales (``settled_sales_of_registration``, finance's accounting pack). And
each product's count of sales for the catalogue's popularity (``recount_sales``, a periodic job)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, true
from sqlalchemy.orm import Session

from qianshu.catalog import service as catalog
from qianshu.core.actor import Actor
from qianshu.core.policy import allows, require
from qianshu.exchange.models import (
    ASSET_TRANSFER,
    Contract,
    ContractChange,
    ContractPeriod,
    Dispute,
    Order,
    RefundRequest,
    Signature,
    TimelineEntry,
)
from qianshu.exchange.service import PREPAID_KINDS, get_order


@dataclass
class Trades:
    orders: list[Order]
    contracts: list[Contract]


def recount_sales(db: Session) -> int:
    """Set each product's count of sales (contracts whose price was settled, a contract once
    however often it renews) from the contracts themselves; returns how many products changed.
    A schedule runs it (``exchange.count_sales``) so that a settlement does not lock the
    product's row, which every settlement of one product would queue on. The count lags by at
    most the schedule's period, and it cannot drift: it is recounted, not added to."""
    counts = dict(db.execute(select(Contract.listing_id, func.count())
                             .where(Contract.settled_at.is_not(None), Contract.listing_id.is_not(None))
                             .group_by(Contract.listing_id)).all())
    return catalog.set_transaction_counts(db, {int(k): int(v) for k, v in counts.items() if k is not None})


TRADES_PAGE = 100  # contracts (and open orders) shown at once in "my trades"


def my_trades(db: Session, actor: Actor, before: int | None = None) -> Trades:
    """The actor organisation's orders (open ones and those without a contract) and contracts, the
    newest ``TRADES_PAGE`` of each; ``before``: only contracts older than that contract id (the next page:
    an organisation with a long history reaches every contract, a page at a time)."""
    require(actor, "exchange.mine")
    if actor.org_id is None:
        return Trades([], [])
    limit = TRADES_PAGE
    mine_o = or_(Order.buyer_org_id == actor.org_id, Order.seller_org_id == actor.org_id)
    mine_c = or_(Contract.buyer_org_id == actor.org_id, Contract.seller_org_id == actor.org_id)
    orders = list(db.scalars(select(Order).where(mine_o, Order.status != "accepted")
                             .order_by(Order.id.desc()).limit(limit)))
    older = Contract.id < before if before is not None else true()
    contracts = list(db.scalars(select(Contract).where(mine_c, older).order_by(Contract.id.desc()).limit(limit)))
    return Trades(orders, contracts)


def timeline(db: Session, actor: Actor, order_id: int) -> list[TimelineEntry]:
    get_order(db, actor, order_id)
    return list(db.scalars(select(TimelineEntry).where(TimelineEntry.order_id == order_id)
                           .order_by(TimelineEntry.id)))


@dataclass(frozen=True)
class NextSteps:
    """How many trades wait for an organisation, by what it has to do."""

    quotes_to_answer: int = 0
    orders_to_accept: int = 0
    quotes_to_decide: int = 0
    contracts_to_sign: int = 0
    changes_to_decide: int = 0
    payments_due: int = 0
    deliveries_to_make: int = 0
    deliveries_to_confirm: int = 0
    disputes: int = 0  # the parties' open disputes; for operators, every dispute to decide
    refunds_to_answer: int = 0  # buyers' refund requests after settlement, for the seller
    refunds_to_decide: int = 0  # refund requests taken to the operators

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


def next_steps(db: Session, actor: Actor) -> NextSteps:
    """Counts of what waits for the actor's organisation (the home page and "my trades")."""
    org = actor.org_id
    if org is None or not allows(actor, "exchange.mine"):
        return NextSteps()
    from sqlalchemy import func

    def count(stmt: Any) -> int:
        return int(db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)

    signed_by_me = select(Signature.id).where(Signature.contract_id == Contract.id,
                                              Signature.text_version == Contract.text_version,
                                              Signature.org_id == org)
    party = or_(Contract.buyer_org_id == org, Contract.seller_org_id == org)
    disputed = select(Dispute.id).join(Contract, Contract.id == Dispute.contract_id).where(Dispute.status == "open")
    periods = select(ContractPeriod.id).join(Contract, Contract.id == ContractPeriod.contract_id)
    return NextSteps(
        quotes_to_answer=count(select(Order.id).where(Order.seller_org_id == org, Order.status == "requested")),
        orders_to_accept=count(select(Order.id).where(Order.seller_org_id == org, Order.status == "placed")),
        quotes_to_decide=count(select(Order.id).where(Order.buyer_org_id == org, Order.status == "quoted")),
        contracts_to_sign=count(select(Contract.id).where(party, Contract.status == "pending",
                                                          ~signed_by_me.exists())),
        changes_to_decide=count(select(ContractChange.id).join(Contract, Contract.id == ContractChange.contract_id)
                                .where(ContractChange.status == "proposed", ContractChange.proposed_by_org_id != org,
                                       party)),
        payments_due=count(select(Contract.id).where(
            Contract.buyer_org_id == org, Contract.status == "active", Contract.payment_status == "unpaid",
            Contract.plan_kind.in_(PREPAID_KINDS), Contract.price_fen > 0)),
        deliveries_to_make=count(select(Contract.id).where(Contract.seller_org_id == org,
                                                           Contract.payment_status == "escrowed"))
        + count(periods.where(Contract.seller_org_id == org, ContractPeriod.payment_status == "escrowed")),
        deliveries_to_confirm=count(select(Contract.id).where(Contract.buyer_org_id == org,
                                                              Contract.payment_status == "delivered"))
        + count(periods.where(Contract.buyer_org_id == org, ContractPeriod.payment_status == "delivered")),
        disputes=count(disputed if allows(actor, "contract.decide_dispute") else disputed.where(party)),
        refunds_to_answer=count(select(RefundRequest.id).join(Contract, Contract.id == RefundRequest.contract_id)
                                .where(RefundRequest.status == "pending", Contract.seller_org_id == org)),
        refunds_to_decide=count(select(RefundRequest.id).where(RefundRequest.status == "escalated"))
        if allows(actor, "contract.decide_refund") else 0,
    )


@dataclass(frozen=True)
class Recipient:
    """A contract a product's data was (or may have been) delivered under: who, by which number."""

    contract_id: int
    number: str
    buyer_org_id: int
    status: str
    delivery_mode: str


def recipients_of(db: Session, listing_id: int, delivery_mode: str | None = None) -> list[Recipient]:
    """Every signed contract of a product (active or ended: a leaked copy may come from an old
    one), for delivery to key watermarks to and to test a leaked copy against."""
    query = (select(Contract.id, Contract.number, Contract.buyer_org_id, Contract.status, Contract.delivery_mode)
             .where(Contract.listing_id == listing_id, Contract.starts_at.is_not(None),
                    Contract.plan_kind != ASSET_TRANSFER).order_by(Contract.id))
    if delivery_mode is not None:
        query = query.where(Contract.delivery_mode == delivery_mode)
    return [Recipient(*row) for row in db.execute(query).all()]


@dataclass(frozen=True)
class SettledTrade:
    """A settled contract as market evidence (finance's market approach to valuation)."""

    number: str
    listing_id: int
    registration_id: int
    title_zh: str
    title_en: str
    industry_code: str
    price_fen: int  # the price less any refund
    settled_at: datetime


def settled_trades(db: Session, industry_code: str, limit: int = 10, scan: int = 2000) -> list[SettledTrade]:
    """The most recent settled contracts over products of the asset's GB/T 4754 division
    (``G54``), or of its section (``G``) when the division has none."""
    rows = db.execute(select(Contract.number, Contract.listing_id, Contract.price_fen, Contract.refunded_fen,
                             Contract.settled_at).where(Contract.payment_status == "settled",
                                                        Contract.settled_at.is_not(None),
                                                        # a forced sale's price is no market evidence
                                                        Contract.plan_kind != ASSET_TRANSFER)
                      .order_by(Contract.settled_at.desc(), Contract.id.desc()).limit(scan)).all()
    facts = catalog.listing_facts(db, {row[1] for row in rows if row[1] is not None})
    trades = [SettledTrade(number, listing_id, facts[listing_id].registration_id, facts[listing_id].title_zh,
                           facts[listing_id].title_en, facts[listing_id].industry_code,
                           max(int(price) - int(refunded), 0), settled_at)
              for number, listing_id, price, refunded, settled_at in rows
              if listing_id in facts and settled_at is not None]
    same = [t for t in trades if industry_code and t.industry_code == industry_code]
    if not same:
        same = [t for t in trades if industry_code and t.industry_code[:1] == industry_code[:1]]
    return [t for t in same if t.price_fen > 0][:limit]


@dataclass(frozen=True)
class AssetSale:
    """A settled contract over a product of one registered asset, as its seller's books see it."""

    number: str
    settled_at: datetime
    price_fen: int  # the price less any refund
    fee_fen: int  # the exchange's fee, kept from the price


def settled_sales_of_registration(db: Session, seller_org_id: int, registration_id: int) -> list[AssetSale]:
    """The seller's settled contracts over products of ``registration_id`` (finance's accounting
    pack: licence income and the exchange's fees), oldest first."""
    rows = db.execute(select(Contract.number, Contract.listing_id, Contract.price_fen, Contract.refunded_fen,
                             Contract.fee_fen, Contract.settled_at)
                      .where(Contract.seller_org_id == seller_org_id, Contract.payment_status == "settled",
                             Contract.settled_at.is_not(None),
                             Contract.plan_kind != ASSET_TRANSFER)  # a disposal, not licence income
                      .order_by(Contract.settled_at, Contract.id)).all()
    facts = catalog.listing_facts(db, {row[1] for row in rows if row[1] is not None})
    return [AssetSale(number, settled_at, max(int(price) - int(refunded), 0), int(fee or 0))
            for number, listing_id, price, refunded, fee, settled_at in rows
            if listing_id in facts and facts[listing_id].registration_id == registration_id and settled_at is not None]
