"""Orders and quotes: a buyer orders a plan or asks for a quote, the seller accepts, quotes or
refuses, the buyer accepts the quote or withdraws; an accepted order is drawn up as a contract
(``QS-TC-<year>-<order>``) for both parties to sign (``contracts.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.catalog import permissions as catalog_permissions
from qianshu.catalog import product as catalog_product
from qianshu.catalog import service as catalog
from qianshu.catalog.policy import PURPOSES, terms_from_odrl
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import N_, Label
from qianshu.core.money import Money
from qianshu.core.policy import require
from qianshu.core.timeutil import as_utc, utcnow
from qianshu.exchange import documents
from qianshu.exchange.models import OPEN_ORDER_STATUSES, Contract, Order
from qianshu.exchange.schemas import OrderIn, QuoteIn
from qianshu.exchange.service import (
    NO_ORDER,
    PERIOD_DAYS,
    flush_or_conflict,
    load_order,
    notify_party,
    record_step,
    require_role,
)
from qianshu.exchange.settings import ExchangeSettings

if TYPE_CHECKING:
    from qianshu.catalog.models import Listing, PricingPlan


def _listed_product(db: Session, listing_id: int) -> Listing:
    try:
        return catalog.get_public_listing(db, listing_id)
    except NotFound:
        raise InvalidInput("{field}: {reason}", field="listing_id",
                           reason="no listed product has this number (it may have been delisted)"
                           ) from None


def _active_plan(listing: Listing, plan_id: int) -> PricingPlan:
    plan = next((p for p in listing.plans if p.id == plan_id), None)
    if plan is None or not plan.active:
        raise InvalidInput("{field}: {reason}", field="plan_id",
                           reason="this product has no such plan on offer (it may have been withdrawn)")
    return plan


def check_purpose(plan: PricingPlan, purpose: str) -> None:
    """The plan's ODRL purpose constraint, checked automatically: a purpose it does not list is refused."""
    if purpose not in PURPOSES:
        raise InvalidInput("{field} must be one of: {expected}.", field="purpose", expected=", ".join(PURPOSES))
    permitted = terms_from_odrl(plan.policy or {}).purposes
    if purpose not in permitted:
        raise InvalidInput("{field}: the usage policy of this plan does not permit the purpose “{purpose}” "
                           "(it permits: {permitted}).", field="purpose", purpose=PURPOSES[purpose],
                           permitted=", ".join(permitted))


def _term_days(plan: PricingPlan) -> int | None:
    policy_days = terms_from_odrl(plan.policy or {}).term_days
    period = PERIOD_DAYS.get(plan.kind)
    if period is None:
        return policy_days
    return period if policy_days is None else min(period, policy_days)


def place_order(db: Session, actor: Actor, data: OrderIn, at: datetime | None = None) -> Order:
    """A buyer orders a plan at its price, or asks for a quote (``quote`` plans, or ``negotiate``).

    ``at`` (here and in every step of a trade) is the clock's time, now by default; the demo's
    back-dated history passes its own."""
    now = at or utcnow()
    listing = _listed_product(db, data.listing_id)
    require(actor, "exchange.order", catalog_permissions.listing(listing))
    if listing.org_id == actor.org_id:
        raise InvalidInput("{field}: {reason}", field="listing_id",
                           reason="you cannot order your own organisation's product")
    plan = _active_plan(listing, data.plan_id)
    check_purpose(plan, data.purpose)
    mode = data.delivery_mode or (plan.delivery_modes[0] if plan.delivery_modes else "download")
    if plan.delivery_modes and mode not in plan.delivery_modes:
        raise InvalidInput("{field} must be one of: {expected}.", field="delivery_mode",
                           expected=", ".join(plan.delivery_modes))
    quote = plan.kind == "quote" or data.negotiate
    order = Order(listing_id=listing.id, plan_id=plan.id, buyer_org_id=actor.org_id, seller_org_id=listing.org_id,
                  created_by=actor.user_id, kind="quote" if quote else "order",
                  status="requested" if quote else "placed", plan_kind=plan.kind, purpose=data.purpose,
                  scenario=data.scenario, delivery_mode=mode, message=data.message,
                  price_fen=None if quote else plan.price_fen, term_days=_term_days(plan), created_at=now,
                  updated_at=now, publish_price=data.publish_price)
    db.add(order)
    db.flush()
    record_step(db, actor, order, "quote_requested" if quote else "order_placed", at=now, plan=plan.id,
                purpose=data.purpose)
    notify_party(db, order.seller_org_id,
                 N_("A quote was asked for “{title}” (request {order}): answer it with a price, terms and an expiry.")
                 if quote else N_("A new order of “{title}” (order {order}) waits for your acceptance."),
                 order, title_zh=listing.title_zh, title_en=listing.title_en)
    return order


def _open(order: Order, *statuses: str) -> None:
    if order.status not in statuses:
        raise Conflict("This order is {status}; it cannot be changed that way.",
                       status=Label("order status", order.status))


def _recheck_offer(db: Session, order: Order) -> tuple[Listing, PricingPlan]:
    """At acceptance the product must still be listed and the plan on offer."""
    try:
        listing = catalog.get_public_listing(db, order.catalogue_listing_id)
    except NotFound:
        raise Conflict("{field}: {reason}", field="listing_id",
                       reason="the product was delisted meanwhile") from None
    plan = next((p for p in listing.plans if p.id == order.plan_id), None)
    if plan is None or not plan.active:
        raise Conflict("{field}: {reason}", field="plan_id", reason="the plan was withdrawn meanwhile")
    return listing, plan


def accept_order(db: Session, actor: Actor, order_id: int, at: datetime | None = None) -> Contract:
    """The seller accepts an order at the plan's price: the contract is drawn up for both to sign."""
    order = load_order(db, order_id)
    require_role(actor, "order.answer", order, NO_ORDER)
    _open(order, "placed")
    return _make_contract(db, actor, order, "order_accepted", at)


def quote(db: Session, actor: Actor, order_id: int, data: QuoteIn, settings: ExchangeSettings | None = None) -> Order:
    """The seller answers with a price, terms and an expiry."""
    cfg = settings or ExchangeSettings()
    order = load_order(db, order_id)
    require_role(actor, "order.answer", order, NO_ORDER)
    _open(order, "requested", "placed", "quoted")
    price = Money.from_yuan(data.price, "price").fen
    if price < 0:
        raise InvalidInput("{field}: {reason}", field="price", reason="must not be negative")
    days = data.expires_in_days or cfg.quote_days
    if days > cfg.max_quote_days:
        raise InvalidInput("{field} must be at most {max}.", field="expires_in_days", max=cfg.max_quote_days)
    order.kind, order.status, order.price_fen, order.terms = "quote", "quoted", price, data.terms
    if data.term_days is not None:
        order.term_days = data.term_days
    order.quote_expires_at = utcnow() + timedelta(days=days)
    order.answered_by, order.answered_at, order.updated_at = actor.user_id, utcnow(), utcnow()
    flush_or_conflict(db)
    record_step(db, actor, order, "quoted", price_fen=price,
                expires=order.quote_expires_at.isoformat(timespec="seconds"))
    notify_party(db, order.buyer_org_id,
                 N_("Your request {order} was answered with a quote; accept it before it expires."),
                 order)
    return order


def refuse(db: Session, actor: Actor, order_id: int, reason: str) -> Order:
    """The seller refuses an order (a scenario it will not serve, for instance), saying why."""
    order = load_order(db, order_id)
    require_role(actor, "order.answer", order, NO_ORDER)
    _open(order, *OPEN_ORDER_STATUSES)
    if not reason.strip():
        raise InvalidInput("{field} is required.", field="reason")
    order.status, order.reason, order.updated_at = "refused", reason, utcnow()
    order.answered_by, order.answered_at = actor.user_id, utcnow()
    flush_or_conflict(db)
    record_step(db, actor, order, "refused", reason=reason)
    notify_party(db, order.buyer_org_id, N_("The seller refused your order {order}: {reason}"), order, reason=reason)
    return order


def quote_expired(order: Order) -> bool:
    """Past the quote's expiry (the periodic task may not have closed the order yet)."""
    return order.quote_expires_at is not None and as_utc(order.quote_expires_at) <= utcnow()


def accept_quote(db: Session, actor: Actor, order_id: int) -> Contract:
    """The buyer accepts a quote before it expires: the contract is drawn up for both to sign."""
    order = load_order(db, order_id)
    require_role(actor, "order.decide", order, NO_ORDER)
    _open(order, "quoted")
    if quote_expired(order):
        raise Conflict("{field}: {reason}", field="quote_expires_at",
                       reason="the quote has expired; ask the seller for a new one")
    return _make_contract(db, actor, order, "quote_accepted")


def withdraw(db: Session, actor: Actor, order_id: int, reason: str = "") -> Order:
    order = load_order(db, order_id)
    require_role(actor, "order.decide", order, NO_ORDER)
    _open(order, *OPEN_ORDER_STATUSES)
    order.status, order.reason, order.updated_at = "withdrawn", reason, utcnow()
    flush_or_conflict(db)
    record_step(db, actor, order, "withdrawn", reason=reason)
    notify_party(db, order.seller_org_id, N_("The buyer withdrew order {order}."), order)
    return order


def _make_contract(db: Session, actor: Actor, order: Order, step: str, at: datetime | None = None) -> Contract:
    listing, plan = _recheck_offer(db, order)
    if order.price_fen is None:  # pragma: no cover - a placed order carries the plan's price, a quote its own
        raise Conflict("This order has no price yet.")
    now = at or utcnow()
    order.status, order.updated_at = "accepted", now
    if order.answered_at is None:
        order.answered_by, order.answered_at = actor.user_id, now
    flush_or_conflict(db)
    registration = catalog_product.registration(db, listing)
    parties = accounts.organisations_by_id(db, [order.buyer_org_id, order.seller_org_id])
    number = f"QS-TC-{now.year}-{order.id:06d}"
    document = documents.contract_document(
        number=number, version=1, buyer=parties[order.buyer_org_id], seller=parties[order.seller_org_id],
        listing=listing, registration=registration,
        certificate=catalog_product.certificate(db, registration.id), plan=plan, price_fen=order.price_fen,
        purpose=order.purpose, scenario=order.scenario, delivery_mode=order.delivery_mode,
        term_days=order.term_days, terms=order.terms, created_at=now)
    if order.publish_price:  # only then does the text say so: older texts keep their exact form
        document["publish_price"] = True
    contract = Contract(number=number, order_id=order.id, listing_id=listing.id, plan_id=plan.id,
                        buyer_org_id=order.buyer_org_id, seller_org_id=order.seller_org_id, status="pending",
                        plan_kind=order.plan_kind, price_fen=order.price_fen, purpose=order.purpose,
                        delivery_mode=order.delivery_mode, term_days=order.term_days, document=document,
                        text_sha256=documents.text_sha256(document), text_version=1, created_at=now, updated_at=now)
    db.add(contract)
    db.flush()
    record_step(db, actor, order, step, contract, at=now)
    record_step(db, actor, order, "contract_drawn_up", contract, at=now, text_sha256=contract.text_sha256)
    for org_id in (order.buyer_org_id, order.seller_org_id):
        notify_party(db, org_id, N_("Contract {number} is ready: read it and accept it."), order, contract)
    return contract
