"""Read models of the exchange's portal (docs/architecture.md, "Read models"): each page's data and
what its viewer may do, without HTTP. The policy says who may take a step of a trade; the state the
services check says when (``orders._open``: an order is answered or withdrawn while it is open), so
a page offers a button only when pressing it would be refused for neither. The contract page's is
also what a higher capability's panel form (the manifests' ``contract_panel`` hook) shows again
with its refused form."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.actor import Actor
from qianshu.core.errors import NotFound
from qianshu.core.forms import Form
from qianshu.core.policy import allows, require
from qianshu.core.timeutil import utcnow
from qianshu.exchange import bills, changes, orders, payments, refunds, renewals, service, statistics, trades
from qianshu.exchange.bills import UsageSoFar
from qianshu.exchange.models import (
    OPEN_ORDER_STATUSES,
    Contract,
    ContractChange,
    Dispute,
    Order,
    RefundRequest,
    TimelineEntry,
)
from qianshu.exchange.permissions import trade
from qianshu.exchange.settings import ExchangeSettings
from qianshu.ledger import service as ledger

# A capability's section of the contract page: ``hook(db, actor, contract) -> panel | None``.
PanelHook = Callable[[Session, Actor, Any], Any]
TEMPLATE = "exchange/contract.html"


@dataclass(frozen=True)
class OrderActions:
    accept: bool = False  # the seller accepts at the plan's price (a placed order)
    quote: bool = False  # the seller answers with a price and terms (an open order)
    refuse: bool = False  # the seller refuses, saying why (an open order)
    accept_quote: bool = False  # the buyer accepts the quote (a quoted order)
    withdraw: bool = False  # the buyer withdraws (an open order)


@dataclass(frozen=True)
class OrderView:
    order: Order
    timeline: list[TimelineEntry]
    party: str | None  # "buyer", "seller", or None (staff, a bank that sold the asset)
    may: OrderActions
    quote_expired: bool  # a quoted order past its quote's expiry, not yet closed by the periodic task


def order_view(db: Session, actor: Actor, order_id: int) -> OrderView:
    """An order (404 unless the viewer may see it: ``service.get_order``), its timeline, and the
    steps the viewer may take now. A quote past its expiry is not offered for acceptance, even before
    the periodic task closes it (the service would refuse it: 409); the buyer may still withdraw."""
    order = service.get_order(db, actor, order_id)
    resource = trade(order)
    open_ = order.status in OPEN_ORDER_STATUSES and not service.is_asset_transfer(order)
    answer = open_ and allows(actor, "order.answer", resource)
    decide = open_ and allows(actor, "order.decide", resource)
    may = OrderActions(accept=answer and order.status == "placed", quote=answer, refuse=answer,
                       accept_quote=decide and order.status == "quoted" and not orders.quote_expired(order),
                       withdraw=decide)
    return OrderView(order, trades.timeline(db, actor, order_id), service.party_of(actor, order), may,
                     order.status == "quoted" and orders.quote_expired(order))


@dataclass(frozen=True)
class StatisticsView:
    stats: statistics.Statistics
    min_group: int  # a group of fewer contracts shows its count, not its amount


def public_statistics(db: Session, actor: Actor) -> StatisticsView:
    """The exchange's public statistics (the policy's ``exchange.statistics``: anyone)."""
    require(actor, "exchange.statistics")
    return StatisticsView(statistics.compute(db), statistics.MIN_GROUP)


def statistics_series(db: Session, actor: Actor, name: str) -> list[statistics.Point]:
    """One series of the public statistics, by the name in its address (404 for another name)."""
    require(actor, "exchange.statistics")
    if name not in statistics.SERIES:
        raise NotFound("Not found.")
    return statistics.compute(db).series.get(name, [])


@dataclass
class PeriodRow:
    period: Any  # a ContractPeriod
    dispute: Dispute | None
    can: dict[str, bool]


def _period_rows(db: Session, actor: Actor, contract: Contract) -> list[PeriodRow]:
    resource, disputes = trade(contract), renewals.open_disputes(db, contract)
    rows = []
    for period in renewals.periods_of(db, contract):
        money = period.payment_status
        rows.append(PeriodRow(period, disputes.get(period.number), {
            "deliver": money == "escrowed" and allows(actor, "contract.deliver", resource),
            "accept": money == "delivered" and allows(actor, "contract.accept_delivery", resource),
            "dispute": money in ("escrowed", "delivered") and allows(actor, "contract.dispute", resource),
            "decide": money == "disputed" and allows(actor, "contract.decide_dispute", resource),
        }))
    return rows


@dataclass
class ContractPage:
    contract: Contract
    timeline: list[TimelineEntry]
    party: str | None
    signed_by_me: bool
    can_sign: bool
    can_change: bool
    can_operate: bool
    change: ContractChange | None
    money: list[Any] = field(default_factory=list)  # the ledger's transfers caused by this contract
    dispute: Dispute | None = None
    can: dict[str, bool] = field(default_factory=dict)  # money actions the actor may do now
    error: str = ""
    # Other capabilities' panels (delivery's API usage and sandbox log ...): objects with a
    # ``template``, from the manifests' ``contract_panel`` hooks (the page's one extension point).
    panels: list[Any] = field(default_factory=list)
    # The buyer's refund requests after settlement (exchange/refunds.py) and until when it may ask.
    refund_requests: list[RefundRequest] = field(default_factory=list)
    refund_window_ends: Any = None
    bills: list[bills.BillRow] = field(default_factory=list)  # a metered contract's usage bills
    usage: list[UsageSoFar] = field(default_factory=list)  # and its usage not yet billed
    # A subscription's renewed periods (2, 3 …), each with what the viewer may do to it now
    # (``PeriodRow``), and what the buyer may ask back now (``refunds.refundable_items``).
    periods: list[PeriodRow] = field(default_factory=list)
    refundable: list[refunds.Item] = field(default_factory=list)
    refund_steps: dict[int, str] = field(default_factory=dict)  # request id → answer | decide | escalate
    # A refused request (its item's latest) → until when the buyer may take it to the operators;
    # ``escalation_closed``: those whose time has passed (no button; the page says when it ended).
    escalation_ends: dict[int, datetime] = field(default_factory=dict)
    escalation_closed: set[int] = field(default_factory=set)
    refund_escalation_days: int = 0
    form: Form = field(default_factory=Form)  # a panel's posted form, refused (its template reads it)
    metered: bool = False  # paid by monthly usage bills, not by the contract's own payment


def contract_page(db: Session, actor: Actor, contract_id: int, settings: ExchangeSettings,
                  panel_hooks: Iterable[PanelHook] = (), error: str = "", form: Form | None = None) -> ContractPage:
    """The contract page: the contract, its timeline and money, what the viewer may do now, and the
    other capabilities' panels (``panel_hooks``, the manifests' ``contract_panel`` hooks). ``form`` is
    a panel's refused form (kept input and errors), which the panel's template reads as ``form``."""
    contract = service.get_contract(db, actor, contract_id)
    party = service.party_of(actor, contract)
    signed = any(x.party == party and x.text_version == contract.text_version for x in contract.signatures)
    resource = trade(contract)
    money, prepaid = contract.payment_status, contract.plan_kind in service.PREPAID_KINDS and contract.price_fen > 0
    can = {
        "pay": (contract.status == "active" and prepaid and money == "unpaid"
                and allows(actor, "contract.pay", resource)),
        "deliver": money == "escrowed" and allows(actor, "contract.deliver", resource),
        "accept": money == "delivered" and allows(actor, "contract.accept_delivery", resource),
        "refund": money in ("escrowed", "delivered", "settled") and allows(actor, "contract.refund", resource),
        "dispute": money in ("escrowed", "delivered") and allows(actor, "contract.dispute", resource),
        "decide": money == "disputed" and allows(actor, "contract.decide_dispute", resource),
        "renewal": contract.plan_kind in service.PERIOD_DAYS and allows(actor, "contract.pay", resource),
    }
    requests = refunds.requests_of(db, contract)
    window = refunds.window_ends(contract, settings)
    now = utcnow()
    refundable = refunds.refundable_items(db, contract, settings, now)
    # One open request per item: the items with none open may be asked; each request has its own
    # next step (the seller answers a pending one, an operator decides an escalated one, the buyer
    # takes a refused one to the operators unless that item has been asked again meanwhile).
    open_keys = {refunds.request_key(r) for r in requests if r.status in ("pending", "escalated")}
    refundable = [i for i in refundable if i.key not in open_keys]
    latest = {refunds.request_key(r): r for r in requests}  # ordered by id: each item's last request
    steps: dict[int, str] = {}
    ends = {r.id: until for r in requests if latest[refunds.request_key(r)] is r
            and (until := refunds.escalation_ends(r, settings)) is not None}
    closed = {request_id for request_id, until in ends.items() if until < now}
    for r in requests:
        if r.status == "pending" and allows(actor, "contract.answer_refund", resource):
            steps[r.id] = "answer"
        elif r.status == "escalated" and allows(actor, "contract.decide_refund", resource):
            steps[r.id] = "decide"
        elif r.id in ends and r.id not in closed and allows(actor, "contract.request_refund", resource):
            steps[r.id] = "escalate"
    can.update({
        "request_refund": bool(refundable) and allows(actor, "contract.request_refund", resource),
        "answer_refund": "answer" in steps.values(),
        "escalate_refund": "escalate" in steps.values(),
        "decide_refund": "decide" in steps.values(),
    })
    metered = contract.plan_kind in service.METERED_KINDS
    page = ContractPage(contract, trades.timeline(db, actor, contract.order_id), party, signed,
                        allows(actor, "contract.sign", resource), allows(actor, "contract.change", resource),
                        allows(actor, "contract.operate", resource), changes.pending_change(db, contract),
                        ledger.transfers_by_cause(db, "contract", contract.id), payments.open_dispute(db, contract),
                        can, error, refund_requests=requests, refund_window_ends=window,
                        bills=bills.contract_bills(db, actor, contract.id) if metered else [],
                        usage=bills.usage_so_far(db, actor, contract.id, now), form=form or Form(),
                        periods=_period_rows(db, actor, contract) if contract.plan_kind in service.PERIOD_DAYS
                        else [], refundable=refundable, refund_steps=steps, escalation_ends=ends,
                        escalation_closed=closed, refund_escalation_days=settings.refund_escalation_days,
                        metered=metered)
    if service.is_asset_transfer(contract):  # settled on the sale: nothing to do here (transfers.py)
        page.can = dict.fromkeys(can, False)
        page.can_sign = page.can_change = page.can_operate = False
        page.refundable = []
        page.refund_steps = {}
    for hook in panel_hooks:
        panel = hook(db, actor, contract)
        if panel is not None:
            page.panels.append(panel)
    return page
