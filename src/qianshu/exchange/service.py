"""Orders and contracts: order or ask for a quote, answer, contract, sign, amend, terminate.

Who may do what is the policy's (``exchange/permissions.py``): an order and its contract are
resources owned by the buyer with the seller as counterparty; a third organisation is told the
trade does not exist (404). When a step may be done is decided here, on the row's status, with
conditional writes (the version column): of two people acting on one trade at once, one wins and
the other gets a 409.

Every step writes a timeline row (``exchange_timeline``, the "my trades" page), an audit row and,
for the other side, an inbox notification, in the transaction of the step. Signatures and
terminations are leaves of the public log (the contract's hash and the parties, never the price).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, true
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from qianshu.accounts import service as accounts
from qianshu.catalog import permissions as catalog_permissions
from qianshu.catalog import product as catalog_product
from qianshu.catalog import service as catalog
from qianshu.catalog.policy import PURPOSES, terms_from_odrl
from qianshu.core import audit, inbox
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.events import publish
from qianshu.core.i18n import N_, Label, label
from qianshu.core.money import Money
from qianshu.core.policy import allows, require
from qianshu.core.timeutil import as_utc, utcnow
from qianshu.exchange import documents
from qianshu.exchange.events import ContractActivated, ContractEnded
from qianshu.exchange.models import (
    ASSET_TRANSFER,
    OPEN_ORDER_STATUSES,
    Contract,
    ContractChange,
    ContractPeriod,
    Dispute,
    Order,
    RefundRequest,
    Signature,
    TimelineEntry,
)
from qianshu.exchange.permissions import trade
from qianshu.exchange.schemas import ChangeIn, OrderIn, QuoteIn
from qianshu.exchange.settings import ExchangeSettings
from qianshu.translog.service import append_event, append_events

if TYPE_CHECKING:
    from qianshu.catalog.models import Listing, PricingPlan

CAPABILITY = "exchange"
NO_ORDER = N_("No such order.")
NO_CONTRACT = N_("No such contract.")
STALE = N_("This trade was changed by someone else in the meantime; reload it and try again.")
# How long a period of a subscription plan runs (renewal is a new contract for now).
PERIOD_DAYS = {"monthly": 30, "yearly": 365}
# Paid before use (into escrow); the metered kinds (per call, per 1,000 rows) are charged per usage report.
PREPAID_KINDS = ("one_time", "monthly", "yearly", "quote")
METERED_KINDS = ("per_call", "per_1000_rows")


# --- loading ----------------------------------------------------------------------------------


def _order(db: Session, order_id: int) -> Order:
    order = db.get(Order, order_id)
    if order is None:
        raise NotFound(NO_ORDER)
    return order


def load_contract(db: Session, contract_id: int) -> Contract:
    # With its order and signatures in the same round trip: every step writes the order's
    # timeline and answers with the signatures (two statements fewer per payment).
    contract = db.get(Contract, contract_id, options=_WITH_ORDER_AND_SIGNATURES)
    if contract is None:
        raise NotFound(NO_CONTRACT)
    return contract


_WITH_ORDER_AND_SIGNATURES = (joinedload(Contract.order), joinedload(Contract.signatures))


def get_order(db: Session, actor: Actor, order_id: int) -> Order:
    order = _order(db, order_id)
    require_role(actor, "trade.read", order, NO_ORDER)
    return order


def get_contract(db: Session, actor: Actor, contract_id: int) -> Contract:
    contract = load_contract(db, contract_id)
    require_role(actor, "trade.read", contract, NO_CONTRACT)
    return contract


def require_role(actor: Actor, action: str, item: Order | Contract, missing: str) -> None:
    """The policy's answer; a third organisation is told the trade does not exist, a party that
    may see it is told why it may not do this."""
    resource = trade(item)
    require(actor, action, resource, hidden=None if allows(actor, "trade.read", resource) else NotFound(missing))
    if action != "trade.read" and is_asset_transfer(item):  # settled by the sale itself (transfers.py)
        raise Conflict("This contract records the transfer of a data asset by forced sale, settled on the sale "
                       "itself: nothing can be signed, paid, delivered, refunded, disputed or changed on it.",
                       code="asset_transfer")


def is_asset_transfer(item: Order | Contract) -> bool:
    """An order or contract recording an asset transfer by forced sale (``exchange/transfers.py``)."""
    return item.plan_kind == ASSET_TRANSFER


def _flush(db: Session) -> None:
    try:
        db.flush()
    except StaleDataError:
        raise Conflict(STALE) from None


def record_step(db: Session, actor: Actor, order: Order, step: str, contract: Contract | None = None,
                at: datetime | None = None, **detail: Any) -> None:
    db.add(TimelineEntry(order_id=order.id, contract_id=contract.id if contract else None, at=at or utcnow(),
                         actor_user_id=actor.user_id, actor_org_id=actor.org_id,
                         actor_label=actor.display_name[:200], step=step, detail=detail))
    target = ("contract", contract.id) if contract else ("order", order.id)
    audit.record(db, actor, f"exchange.{step}", target_type=target[0], target_id=target[1],
                 target_org_id=order.seller_org_id if actor.org_id == order.buyer_org_id else order.buyer_org_id,
                 **detail)


def notify_party(db: Session, org_id: int, message: str, order: Order, contract: Contract | None = None,
          **params: Any) -> None:
    """A notification to one party's shared inbox, linking to the trade."""
    if contract is not None:
        inbox.notify(db, CAPABILITY, message, org_id=org_id, subject=("contract", contract.id),
                     link=f"/exchange/contracts/{contract.id}", number=contract.number, **params)
    else:
        inbox.notify(db, CAPABILITY, message, org_id=org_id, subject=("order", order.id),
                     link=f"/exchange/orders/{order.id}", order=order.id, **params)


# --- orders -----------------------------------------------------------------------------------


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
    order = _order(db, order_id)
    require_role(actor, "order.answer", order, NO_ORDER)
    _open(order, "placed")
    return _make_contract(db, actor, order, "order_accepted", at)


def quote(db: Session, actor: Actor, order_id: int, data: QuoteIn, settings: ExchangeSettings | None = None) -> Order:
    """The seller answers with a price, terms and an expiry."""
    cfg = settings or ExchangeSettings()
    order = _order(db, order_id)
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
    _flush(db)
    record_step(db, actor, order, "quoted", price_fen=price,
                expires=order.quote_expires_at.isoformat(timespec="seconds"))
    notify_party(db, order.buyer_org_id,
                 N_("Your request {order} was answered with a quote; accept it before it expires."),
                 order)
    return order


def refuse(db: Session, actor: Actor, order_id: int, reason: str) -> Order:
    """The seller refuses an order (a scenario it will not serve, for instance), saying why."""
    order = _order(db, order_id)
    require_role(actor, "order.answer", order, NO_ORDER)
    _open(order, *OPEN_ORDER_STATUSES)
    if not reason.strip():
        raise InvalidInput("{field} is required.", field="reason")
    order.status, order.reason, order.updated_at = "refused", reason, utcnow()
    order.answered_by, order.answered_at = actor.user_id, utcnow()
    _flush(db)
    record_step(db, actor, order, "refused", reason=reason)
    notify_party(db, order.buyer_org_id, N_("The seller refused your order {order}: {reason}"), order, reason=reason)
    return order


def accept_quote(db: Session, actor: Actor, order_id: int) -> Contract:
    """The buyer accepts a quote before it expires: the contract is drawn up for both to sign."""
    order = _order(db, order_id)
    require_role(actor, "order.decide", order, NO_ORDER)
    _open(order, "quoted")
    if order.quote_expires_at is not None and as_utc(order.quote_expires_at) <= utcnow():
        raise Conflict("{field}: {reason}", field="quote_expires_at",
                       reason="the quote has expired; ask the seller for a new one")
    return _make_contract(db, actor, order, "quote_accepted")


def withdraw(db: Session, actor: Actor, order_id: int, reason: str = "") -> Order:
    order = _order(db, order_id)
    require_role(actor, "order.decide", order, NO_ORDER)
    _open(order, *OPEN_ORDER_STATUSES)
    order.status, order.reason, order.updated_at = "withdrawn", reason, utcnow()
    _flush(db)
    record_step(db, actor, order, "withdrawn", reason=reason)
    notify_party(db, order.seller_org_id, N_("The buyer withdrew order {order}."), order)
    return order


# --- contracts --------------------------------------------------------------------------------


def _make_contract(db: Session, actor: Actor, order: Order, step: str, at: datetime | None = None) -> Contract:
    listing, plan = _recheck_offer(db, order)
    if order.price_fen is None:  # pragma: no cover - a placed order carries the plan's price, a quote its own
        raise Conflict("This order has no price yet.")
    now = at or utcnow()
    order.status, order.updated_at = "accepted", now
    if order.answered_at is None:
        order.answered_by, order.answered_at = actor.user_id, now
    _flush(db)
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


def party_of(actor: Actor, contract: Contract | Order) -> str | None:
    if actor.org_id == contract.buyer_org_id:
        return "buyer"
    if actor.org_id == contract.seller_org_id:
        return "seller"
    return None


def _other(contract: Contract, party: str) -> int:
    return contract.seller_org_id if party == "buyer" else contract.buyer_org_id


def _log_parties(db: Session, contract: Contract) -> dict[str, str]:
    """What a signature's or amendment's leaf tells the public: the contract's number, hash and
    parties; the price only when the text both signed says the parties agreed to publish it."""
    doc = contract.document
    leaf = {"number": contract.number, "text_sha256": contract.text_sha256, "version": str(contract.text_version),
            "buyer_uscc": doc["buyer"]["uscc"], "seller_uscc": doc["seller"]["uscc"],
            "registration_number": doc["product"]["registration_number"] or ""}
    if doc.get("publish_price") is True:
        leaf["price_fen"] = str(doc["price_fen"])
    return leaf


def sign(db: Session, actor: Actor, contract_id: int, text_sha256: str = "", at: datetime | None = None) -> Contract:
    """One party accepts the contract's current text; when both have, it is in force and logged.

    ``text_sha256`` (optional) is the hash of the text the signer read: if the text changed since,
    the signature is refused, so nobody accepts a text they did not see."""
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.sign", contract, NO_CONTRACT)
    party = party_of(actor, contract)
    if contract.status != "pending":
        raise Conflict("Contract {number} is {status}; it cannot be signed.", number=contract.number,
                       status=Label("contract status", contract.status))
    if text_sha256 and text_sha256 != contract.text_sha256:
        raise Conflict("{field}: {reason}", field="text_sha256",
                       reason="the contract text changed since you read it; read it again")
    if any(s.party == party and s.text_version == contract.text_version for s in contract.signatures):
        raise Conflict("You have already accepted this contract.")
    signature = Signature(contract_id=contract.id, text_version=contract.text_version, party=party or "",
                          org_id=actor.org_id or 0, user_id=actor.user_id, user_label=actor.display_name[:200],
                          via=actor.via, ip=actor.ip, text_sha256=contract.text_sha256, at=at or utcnow())
    contract.signatures.append(signature)
    contract.updated_at = at or utcnow()
    _flush(db)
    order = contract.order
    record_step(db, actor, order, "signed", contract, at=at, party=party, text_sha256=contract.text_sha256)
    current = [s for s in contract.signatures if s.text_version == contract.text_version]
    if {s.party for s in current} == {"buyer", "seller"}:
        _activate(db, actor, contract, current, at)
    else:
        notify_party(db, _other(contract, party or "buyer"),
                     N_("The other party accepted contract {number}; your acceptance is awaited."), order, contract)
    return contract


def _activate(db: Session, actor: Actor, contract: Contract, signatures: list[Signature],
              at: datetime | None = None) -> None:
    now = at or utcnow()
    contract.status, contract.starts_at = "active", now
    contract.ends_at = now + timedelta(days=contract.term_days) if contract.term_days else None
    for org_id in (contract.buyer_org_id, contract.seller_org_id):
        notify_party(db, org_id,
                     N_("Contract {number} is signed by both parties and in force."), contract.order, contract)
    _flush(db)
    # The log's sequencer is one lock for the whole exchange, held from the append to the commit:
    # the leaf comes last (escrow.settle, docs/exchange.md "Performance").
    index = append_events(db, [("exchange.contract_signed", _log_parties(db, contract))])[0].index
    for s in signatures:
        s.log_index = index
    _flush(db)
    record_step(db, actor, contract.order, "in_force", contract, at=now, log_index=index)
    publish(db, ContractActivated(contract_id=contract.id))


def decline(db: Session, actor: Actor, contract_id: int, reason: str) -> Contract:
    """A party declines a contract that is not yet signed by both: it never comes into force."""
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.sign", contract, NO_CONTRACT)
    if contract.status != "pending":
        raise Conflict("Contract {number} is {status}; it cannot be signed.", number=contract.number,
                       status=Label("contract status", contract.status))
    if not reason.strip():
        raise InvalidInput("{field} is required.", field="reason")
    _end(db, actor, contract, "declined", reason)
    return contract


def _end(db: Session, actor: Actor, contract: Contract, status: str, reason: str, log: bool = False) -> None:
    contract.status, contract.ended_at, contract.end_reason = status, utcnow(), reason
    contract.updated_at = utcnow()
    _flush(db)
    detail: dict[str, Any] = {"reason": reason}
    if log:
        detail["log_index"] = append_event(db, "exchange.contract_terminated", _log_parties(db, contract)).index
    record_step(db, actor, contract.order, status, contract, **detail)
    for org_id in (contract.buyer_org_id, contract.seller_org_id):
        notify_party(db, org_id, N_("Contract {number} is {status}: {reason}"), contract.order, contract,
                     status_zh=label(status, "contract status", "zh"), status_en=label(status, "contract status", "en"),
                     reason=reason)
    if status in ("ended", "terminated"):
        publish(db, ContractEnded(contract_id=contract.id, status=status, reason=reason))


# --- amendments and early termination ---------------------------------------------------------


def _changes(contract: Contract, data: ChangeIn) -> dict[str, Any]:
    if data.kind == "terminate":
        return {}
    changes: dict[str, Any] = {}
    if data.price:
        price = Money.from_yuan(data.price, "price").fen
        if price < 0:
            raise InvalidInput("{field}: {reason}", field="price", reason="must not be negative")
        changes["price_fen"] = price
    if data.term_days is not None:
        changes["term_days"] = data.term_days
    if data.terms is not None:
        changes["terms"] = data.terms
    if not changes:
        raise InvalidInput("{field}: {reason}", field="price",
                           reason="an amendment must change the price, the term or the terms")
    return changes


def _changeable(contract: Contract) -> None:
    if contract.status != "active":
        raise Conflict("Contract {number} is {status}; it cannot be changed.", number=contract.number,
                       status=Label("contract status", contract.status))


def propose_change(db: Session, actor: Actor, contract_id: int, data: ChangeIn) -> ContractChange:
    """A party proposes to amend the contract or to end it early; the other party decides."""
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.change", contract, NO_CONTRACT)
    _changeable(contract)
    pending = db.scalar(select(ContractChange.id).where(ContractChange.contract_id == contract.id,
                                                        ContractChange.status == "proposed"))
    if pending is not None:
        raise Conflict("A proposed change of this contract awaits a decision already.")
    change = ContractChange(contract_id=contract.id, kind=data.kind, proposed_by_org_id=actor.org_id or 0,
                            proposed_by=actor.user_id, changes=_changes(contract, data), reason=data.reason)
    db.add(change)
    db.flush()
    record_step(db, actor, contract.order, f"{data.kind}_proposed", contract, change=change.id, reason=data.reason)
    notify_party(db, _other(contract, party_of(actor, contract) or "buyer"),
                 N_("The other party proposes to amend contract {number}: {reason}") if data.kind == "amend"
                 else N_("The other party proposes to end contract {number} early: {reason}"),
                 contract.order, contract, reason=data.reason)
    return change


def decide_change(db: Session, actor: Actor, contract_id: int, change_id: int, agree: bool) -> ContractChange:
    """The other party agrees to (or rejects) a proposed amendment or early termination."""
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.change", contract, NO_CONTRACT)
    change = db.get(ContractChange, change_id)
    if change is None or change.contract_id != contract.id:
        raise NotFound("Not found.")
    if change.status != "proposed":
        raise Conflict("This proposal was decided already.")
    if change.proposed_by_org_id == actor.org_id:
        raise Conflict("The other party must decide on your proposal.")
    _changeable(contract)
    change.status, change.decided_by, change.decided_at = ("agreed" if agree else "rejected"), actor.user_id, utcnow()
    if not agree:
        db.flush()
        record_step(db, actor, contract.order, f"{change.kind}_rejected", contract, change=change.id)
        notify_party(db, change.proposed_by_org_id, N_("Your proposal on contract {number} was rejected."),
                     contract.order, contract)
        return change
    _apply(db, actor, contract, change.kind, change.changes, change.reason)
    return change


def operate(db: Session, actor: Actor, contract_id: int, data: ChangeIn) -> Contract:
    """The exchange operator amends or terminates a contract, with a written reason."""
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.operate", contract, NO_CONTRACT)
    _changeable(contract)
    _apply(db, actor, contract, data.kind, _changes(contract, data), data.reason, by_operator=True)
    return contract


def _apply(db: Session, actor: Actor, contract: Contract, kind: str, changes: dict[str, Any], reason: str,
           by_operator: bool = False) -> None:
    if kind == "terminate":
        _end(db, actor, contract, "terminated", reason, log=True)
        return
    version = contract.text_version + 1
    document = documents.amended(contract.document, changes, version)
    contract.document, contract.text_version = document, version
    contract.text_sha256 = documents.text_sha256(document)
    if "price_fen" in changes:
        contract.price_fen = changes["price_fen"]
    if "term_days" in changes:
        contract.term_days = changes["term_days"]
        start = contract.starts_at
        contract.ends_at = as_utc(start) + timedelta(days=changes["term_days"]) if start else None
    contract.updated_at = utcnow()
    _flush(db)
    entry = append_event(db, "exchange.contract_amended", {**_log_parties(db, contract),
                                                           "by_operator": "yes" if by_operator else "no"})
    record_step(db, actor, contract.order, "amended", contract, version=version, text_sha256=contract.text_sha256,
                reason=reason, log_index=entry.index, fields=sorted(changes))
    for org_id in (contract.buyer_org_id, contract.seller_org_id):
        notify_party(db, org_id,
                     N_("Contract {number} was amended (version {version}): {reason}"), contract.order, contract,
                     version=version, reason=reason)


# --- in force or not --------------------------------------------------------------------------


def contract_is_active(db: Session, contract_id: int, use: str, at: datetime | None = None) -> bool:
    """Whether a contract permits ``use`` at ``at`` (default now): signed by both, not ended,
    expired or terminated, paid (a prepaid price in escrow or settled, not refunded), and ``use`` is
    its delivery mode or its purpose. Delivery asks this before every access, so access ends the
    moment the contract does (not when a task notices)."""
    contract = db.get(Contract, contract_id)
    # An asset transfer (``completed``) grants no delivery: its buyer holds the asset itself.
    if contract is None or contract.status != "active" or contract.starts_at is None:
        return False
    moment = as_utc(at) if at is not None else utcnow()
    # A renewed period of a subscription is paid for by its own escrow (exchange/renewals.py).
    renewed = _renewed_period_paid(db, contract, moment) if contract.plan_kind in PERIOD_DAYS else None
    if renewed is False or (renewed is None and contract.plan_kind in PREPAID_KINDS and contract.price_fen > 0
                            and contract.payment_status in ("unpaid", "refunded")):
        return False
    if moment < as_utc(contract.starts_at):
        return False
    if contract.ends_at is not None and moment >= as_utc(contract.ends_at):
        return False
    return use in (contract.delivery_mode, contract.purpose)


def _renewed_period_paid(db: Session, contract: Contract, moment: datetime) -> bool | None:
    status = db.scalar(select(ContractPeriod.payment_status).where(
        ContractPeriod.contract_id == contract.id, ContractPeriod.starts_at <= moment, ContractPeriod.ends_at > moment))
    return None if status is None else status != "refunded"


def expire_due(db: Session, now: datetime | None = None) -> tuple[int, int]:
    """Expire quotes past their expiry and end contracts past their term; (quotes, contracts)."""
    from qianshu.core.actor import SYSTEM

    moment = now or utcnow()
    quotes = list(db.scalars(select(Order).where(Order.status == "quoted", Order.quote_expires_at <= moment)
                             .limit(500)))
    for order in quotes:
        order.status, order.updated_at = "expired", moment
        record_step(db, SYSTEM, order, "expired")
        notify_party(db, order.buyer_org_id, N_("The quote for your request {order} expired."), order)
    contracts = list(db.scalars(select(Contract).where(Contract.status == "active", Contract.ends_at <= moment)
                                .limit(500)))
    for contract in contracts:
        _end(db, SYSTEM, contract, "ended", "term ended")
    _flush(db)
    return len(quotes), len(contracts)


# --- my trades --------------------------------------------------------------------------------


@dataclass
class Trades:
    orders: list[Order]
    contracts: list[Contract]


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


def pending_change(db: Session, contract: Contract) -> ContractChange | None:
    return db.scalar(select(ContractChange).where(ContractChange.contract_id == contract.id,
                                                  ContractChange.status == "proposed"))


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


def contract_pdf(db: Session, actor: Actor, contract_id: int, font_path: str = "") -> tuple[str, bytes]:
    contract = get_contract(db, actor, contract_id)
    current = [s for s in contract.signatures if s.text_version == contract.text_version]
    leaf = next(((s.log_index, "") for s in current if s.log_index is not None), None)
    if leaf is not None:
        from qianshu.translog.service import get_leaf

        entry = get_leaf(db, leaf[0])
        leaf = (entry.index, entry.leaf_hash)
    return contract.number, documents.pdf_bytes(contract.document, current, leaf, font_path)


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
