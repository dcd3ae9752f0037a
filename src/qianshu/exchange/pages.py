"""Portal pages of the exchange: the order form, "my trades", an order and a contract with their
timeline and the buttons of the next step. They call the same services as the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.catalog import service as catalog
from qianshu.catalog.policy import PURPOSES, terms_from_odrl
from qianshu.core.actor import Actor
from qianshu.core.errors import InvalidInput, NotFound, QianshuError
from qianshu.core.forms import FormInvalid, validate_form
from qianshu.core.http import DbSession, PostedForm, form_fields, get_lang, get_settings_dep, render, see_other
from qianshu.core.read_models import extend
from qianshu.exchange import (
    bills_pages,
    changes,
    contracts,
    orders,
    payments,
    read_models,
    refunds,
    renewals,
    statistics,
    trades,
)
from qianshu.exchange import schemas as s
from qianshu.exchange.models import Contract, Order
from qianshu.exchange.settings import ExchangeSettings
from qianshu.ledger import service as ledger

if TYPE_CHECKING:
    from qianshu.catalog.models import Listing, PricingPlan

router = APIRouter(include_in_schema=False)
router.include_router(bills_pages.router)  # the usage bills' pages live in their own module


def _errors(exc: QianshuError, lang: str) -> str:
    """Every field's error of a refused form at once (core/forms.py), else the one error."""
    errors = exc.errors if isinstance(exc, FormInvalid) else [exc]
    return " ".join(error.render(lang) for error in errors)


@dataclass
class OrderForm:
    listing: Listing
    plan: PricingPlan
    purposes: dict[str, str]
    form: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def _offer(db: DbSession, listing_id: int, plan_id: int) -> tuple[Listing, PricingPlan]:
    listing = catalog.get_public_listing(db, listing_id)
    plan = next((p for p in listing.plans if p.id == plan_id and p.active), None)
    if plan is None:
        raise NotFound("Not found.")
    return listing, plan


def _order_form(request: Request, db: DbSession, listing_id: int, plan_id: int, form: dict[str, Any],
                error: str = "", status: int = 200) -> Response:
    listing, plan = _offer(db, listing_id, plan_id)
    permitted = terms_from_odrl(plan.policy or {}).purposes
    page = OrderForm(listing, plan, {p: PURPOSES[p] for p in permitted if p in PURPOSES}, form, error)
    return render(request, "exchange/order_form.html", page, status_code=status)


@router.get("/exchange/order", response_class=HTMLResponse)
def order_form(request: Request, db: DbSession, actor: SignedInActor, listing_id: int = 0,
               plan_id: int = 0) -> Response:
    if not listing_id or not plan_id:  # one orders from a product page: go and find one
        return see_other("/catalog")
    return _order_form(request, db, listing_id, plan_id, {})


def _int(value: Any, name: str) -> int:
    text = str(value or "")
    if not text.isdigit() or len(text) > 18:
        raise InvalidInput("{field} must be a whole number.", field=name)
    return int(text)


@router.post("/exchange/orders", response_class=HTMLResponse)
def place_order(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    form = form_fields(posted)
    form["negotiate"] = form.get("negotiate", "") == "on"
    form["publish_price"] = form.get("publish_price", "") == "on"
    if not form.get("delivery_mode"):
        form.pop("delivery_mode", None)
    try:
        order = orders.place_order(db, actor, validate_form(s.OrderIn, form))
    except QianshuError as exc:
        db.rollback()
        try:
            return _order_form(request, db, _int(form.get("listing_id"), "listing_id"),
                               _int(form.get("plan_id"), "plan_id"), form, _errors(exc, get_lang(request)),
                               exc.status)
        except QianshuError:
            raise exc from None
    return see_other(f"/exchange/orders/{order.id}")


@dataclass
class TradesPage:
    orders: list[Order]
    contracts: list[Contract]
    steps: trades.NextSteps
    org_id: int | None
    before: int | None = None  # this page's cursor (None: the newest contracts)
    older: int | None = None  # the next page's cursor, when there may be older contracts


@router.get("/exchange/trades", response_class=HTMLResponse)
def my_trades(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    raw = request.query_params.get("before", "")
    before = int(raw) if raw.isdigit() and len(raw) < 19 else None  # anything else: the newest
    found = trades.my_trades(db, actor, before)
    older = found.contracts[-1].id if len(found.contracts) == trades.TRADES_PAGE else None
    return render(request, "exchange/trades.html",
                  TradesPage(found.orders, found.contracts, trades.next_steps(db, actor), actor.org_id, before,
                             older))


@dataclass(frozen=True)
class OrderPage(read_models.OrderView):
    """An order's page: its read model (``read_models.order_view``) and a refused step's error."""

    error: str = ""


def _order_page(request: Request, db: DbSession, actor: Actor, order_id: int, error: str = "",
                status: int = 200) -> Response:
    page = extend(OrderPage, read_models.order_view(db, actor, order_id), error=error)
    return render(request, "exchange/order.html", page, status_code=status)


@router.get("/exchange/orders/{order_id:int}", response_class=HTMLResponse)
def order_page(order_id: int, request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return _order_page(request, db, actor, order_id)


@router.post("/exchange/orders/{order_id:int}/{action}", response_class=HTMLResponse)
def order_action(order_id: int, action: str, request: Request, db: DbSession, actor: SignedInActor,
                 posted: PostedForm) -> Response:
    form = form_fields(posted)
    reason = str(form.get("reason", ""))[:2000]
    try:
        if action == "accept":
            return see_other(f"/exchange/contracts/{orders.accept_order(db, actor, order_id).id}")
        if action == "accept-quote":
            return see_other(f"/exchange/contracts/{orders.accept_quote(db, actor, order_id).id}")
        if action == "quote":
            data = {k: v for k, v in form.items() if k in ("price", "terms", "expires_in_days", "term_days") and v}
            orders.quote(db, actor, order_id, validate_form(s.QuoteIn, data),
                         get_settings_dep(request).section(ExchangeSettings))
        elif action == "refuse":
            orders.refuse(db, actor, order_id, reason)
        elif action == "withdraw":
            orders.withdraw(db, actor, order_id, reason)
        else:
            raise NotFound("Not found.")
    except QianshuError as exc:
        db.rollback()
        return _order_page(request, db, actor, order_id, _errors(exc, get_lang(request)), exc.status)
    return see_other(f"/exchange/orders/{order_id}")


def _contract_page(request: Request, db: DbSession, actor: Actor, contract_id: int, error: str = "",
                   status: int = 200) -> Response:
    page = read_models.contract_page(db, actor, contract_id, get_settings_dep(request).section(ExchangeSettings),
                                     getattr(request.app.state, "contract_panels", ()), error)
    return render(request, read_models.TEMPLATE, page, status_code=status)


MONEY_ACTIONS = ("pay", "deliver", "accept-delivery", "refund", "dispute", "decide", "renewal")
REFUND_REQUEST_ACTIONS = ("request-refund", "answer-refund", "escalate-refund", "decide-refund")


def _refund_request(request: Request, db: DbSession, actor: Actor, contract_id: int, action: str,
                    form: dict[str, Any]) -> None:
    """The refund request's buttons (exchange/refunds.py): the same services as the API; a second
    answer to the same request is refused by its status (409)."""
    reason = str(form.get("reason", ""))[:2000]
    if action == "request-refund":
        kind, _sep, number = str(form.get("item", "") or "period-1").partition("-")
        if kind not in ("period", "bill"):
            raise InvalidInput("{field} is required.", field="item")
        which = _int(number, "item")
        refunds.request_refund(db, actor, contract_id, ledger.parse_yuan(str(form.get("amount", "")), "amount"),
                               reason, get_settings_dep(request).section(ExchangeSettings),
                               period=which if kind == "period" else None, bill_id=which if kind == "bill" else None)
        return
    request_id = _int(form.get("request_id"), "request_id")
    if refunds.get_request(db, actor, request_id).contract_id != contract_id:
        raise NotFound(refunds.NO_REQUEST)
    settings = get_settings_dep(request).section(ExchangeSettings)
    if action == "answer-refund":
        refunds.answer_refund(db, actor, request_id, form.get("answer") == "accept", reason, settings=settings)
    elif action == "escalate-refund":
        refunds.escalate(db, actor, request_id, settings=settings)
    else:
        amount = str(form.get("refund", "")).strip()
        refunds.decide_refund(db, actor, request_id, form.get("decision") == "grant", reason,
                              ledger.parse_yuan(amount, "refund") if amount else None)


def _money(request: Request, db: DbSession, actor: Actor, contract_id: int, action: str,
           form: dict[str, Any]) -> None:
    """The portal's money buttons: the same services as the API (a double submit is refused by the
    contract's status and the ledger's unique references, so nothing moves twice)."""
    settings = get_settings_dep(request).section(ExchangeSettings)
    reason = str(form.get("reason", ""))[:2000]
    period = _int(form["period"], "period") if form.get("period") else None  # a renewed period's buttons
    if action == "pay":
        payments.pay(db, actor, contract_id)
    elif action == "deliver":
        renewals.deliver(db, actor, contract_id, period)
    elif action == "accept-delivery":
        renewals.accept_delivery(db, actor, contract_id, settings, period)
    elif action == "refund":
        renewals.refund(db, actor, contract_id, ledger.parse_yuan(str(form.get("amount", "")), "amount"), reason,
                        period)
    elif action == "dispute":
        renewals.raise_dispute(db, actor, contract_id, reason, period)
    elif action == "renewal":
        renewals.set_renewal(db, actor, contract_id, form.get("renews") == "on")
    else:
        amount = str(form.get("refund", "") or "0")
        payments.decide_dispute(db, actor, _int(form.get("dispute_id"), "dispute_id"), str(form.get("decision", "")),
                                reason, ledger.parse_yuan(amount, "refund") if amount != "0" else 0, settings)


@router.get("/exchange/contracts/{contract_id:int}", response_class=HTMLResponse)
def contract_page(contract_id: int, request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return _contract_page(request, db, actor, contract_id)


@router.post("/exchange/contracts/{contract_id:int}/{action}", response_class=HTMLResponse)
def contract_action(contract_id: int, action: str, request: Request, db: DbSession, actor: SignedInActor,
                    posted: PostedForm) -> Response:
    form = form_fields(posted)
    try:
        if action == "sign":
            contracts.sign(db, actor, contract_id, str(form.get("text_sha256", ""))[:64])
        elif action == "decline":
            contracts.decline(db, actor, contract_id, str(form.get("reason", ""))[:2000])
        elif action in ("propose", "operate"):
            data = {k: v for k, v in form.items() if k in ("kind", "price", "term_days", "terms", "reason") and v}
            change = validate_form(s.ChangeIn, data)
            if action == "propose":
                changes.propose_change(db, actor, contract_id, change)
            else:
                changes.operate(db, actor, contract_id, change)
        elif action in ("agree", "reject"):
            changes.decide_change(db, actor, contract_id, _int(form.get("change_id"), "change_id"), action == "agree")
        elif action in MONEY_ACTIONS:
            _money(request, db, actor, contract_id, action, form)
        elif action in REFUND_REQUEST_ACTIONS:
            _refund_request(request, db, actor, contract_id, action, form)
        else:
            raise NotFound("Not found.")
    except QianshuError as exc:
        db.rollback()
        return _contract_page(request, db, actor, contract_id, _errors(exc, get_lang(request)), exc.status)
    return see_other(f"/exchange/contracts/{contract_id}")


@router.get("/statistics", response_class=HTMLResponse)
def statistics_page(request: Request, db: DbSession, actor: CurrentActor) -> HTMLResponse:
    return render(request, "exchange/statistics.html", read_models.public_statistics(db, actor))


@router.get("/statistics/{name}.csv")
def statistics_csv(name: str, request: Request, db: DbSession, actor: CurrentActor) -> Response:
    body = statistics.to_csv(read_models.statistics_series(db, actor, name), get_lang(request))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="qianshu-{name}.csv"'})
