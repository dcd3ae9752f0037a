"""What the vouchers' pages show, each read by one function: the data and what the viewer may do
with it. The permission policy (``core.policy``) says who; the state the services check says when
(a usage report only while the order is paid, a claim only once settled with a voucher part left
and no claim pending or approved), so a page offers a form only when using it would not be refused
for either. The portal (``pages.py``, ``publish_pages.py``, and ``contract_pages.py`` for the
exchange's contract page) renders these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import policy
from qianshu.core.actor import Actor
from qianshu.core.errors import PermissionDenied
from qianshu.core.policy import MERCHANT_ORG_TYPES
from qianshu.exchange import service as exchange
from qianshu.exchange.permissions import trade
from qianshu.vouchers import data_vouchers, redemption, service, trust
from qianshu.vouchers.models import Application, ComputeOrder, Offering, Programme, Reimbursement, Voucher
from qianshu.vouchers.permissions import programme_resource


@dataclass(frozen=True)
class DirectoryActions:
    publish: bool = False  # offer compute or create a programme: the publish page


@dataclass(frozen=True)
class DirectoryView:
    programmes: list[Programme]
    directory: dict[str, Any]
    may: DirectoryActions


def directory(db: Session, actor: Actor) -> DirectoryView:
    """The public directory of providers and the programmes."""
    return DirectoryView(service.programmes(db, actor), service.directory(db, actor), DirectoryActions(
        publish=policy.allows(actor, "vouchers.offering.publish") or policy.allows(actor, "vouchers.programme.create")))


@dataclass(frozen=True)
class ProgrammeActions:
    apply: bool = False  # apply for vouchers and order with them (an approved company)
    manage: bool = False  # decide applications and claims, keep the trust records (its administrator)


@dataclass(frozen=True)
class ProgrammeView:
    programme: Programme
    offerings: list[Offering]
    names: dict[int, Any]  # organisations by id: the providers and, for the administrator, the applicants
    may: ProgrammeActions
    month: str  # this month (YYYY-MM), the order form's default
    my_vouchers: list[Voucher] = field(default_factory=list)  # the company's, of this programme
    applications: list[Application] = field(default_factory=list)  # for its administrator
    claims: list[Reimbursement] = field(default_factory=list)  # for its administrator
    # broken-trust records in force against the company: its apply and order forms give way to why
    records_against: list[trust.RecordAgainst] = field(default_factory=list)
    # for its administrator: the oldest record in force against the provider of each pending claim
    # held by one (by provider's organisation id); such a claim may be rejected, not approved
    held_claims: dict[int, trust.RecordAgainst] = field(default_factory=dict)


def programme_view(db: Session, actor: Actor, programme_id: int) -> ProgrammeView:
    """A programme's rules and budget; the company's vouchers; the administrator's work."""
    programme = service.get_programme(db, actor, programme_id)
    offers = [o for o in service.offerings(db, actor) if o.provider_org_id in programme.provider_org_ids]
    may = ProgrammeActions(
        apply=policy.allows(actor, "vouchers.apply"),
        manage=policy.allows(actor, "vouchers.programme.manage", programme_resource(programme.admin_org_id)))
    names = dict(accounts.organisations_by_id(db, programme.provider_org_ids))
    mine = [v for v in service.vouchers_of(db, actor) if v.programme_id == programme.id] if may.apply else []
    applications = service.applications(db, actor, programme.id) if may.manage else []
    claims = redemption.claims(db, actor, programme.id) if may.manage else []
    names.update(accounts.organisations_by_id(db, {a.org_id for a in applications}
                                              | {c.provider_org_id for c in claims}))
    against = trust.records_against(db, actor.org_id) if may.apply and actor.org_id is not None else []
    return ProgrammeView(programme, offers, names, may, service.today().strftime("%Y-%m"), mine, applications, claims,
                         against, _held(db, {c.provider_org_id for c in claims if c.status == "pending"}))


def _held(db: Session, provider_ids: set[int]) -> dict[int, trust.RecordAgainst]:
    """The oldest broken-trust record in force against each of the providers that has one."""
    return {i: records[0] for i in sorted(provider_ids) for records in (trust.records_against(db, i),) if records}


@dataclass(frozen=True)
class MineView:
    vouchers: list[Voucher]
    orders: list[ComputeOrder]
    # broken-trust records in force against the viewer's organisation: while any holds its vouchers
    # are not spent (redemption.held_vouchers), and the page says so and why
    records_against: list[trust.RecordAgainst] = field(default_factory=list)
    spends: bool = False  # the organisation may hold and spend vouchers: the notice says they are held
    paid: bool = False  # a programme may pay it (a provider): the notice says its claims are held


def mine(db: Session, actor: Actor) -> MineView:
    """An organisation's vouchers and orders, and why its vouchers are not spent and its claims not
    paid, if a record holds."""
    vouchers = service.vouchers_of(db, actor)
    against = trust.records_against(db, actor.org_id) if actor.org_id is not None else []
    return MineView(vouchers, redemption.orders_of(db, actor), against, policy.allows(actor, "vouchers.apply"),
                    actor.org_type in PAID_ORG_TYPES)


# who a programme may pay: compute providers and, for data vouchers, the exchange's sellers
PAID_ORG_TYPES = ("compute_provider", *MERCHANT_ORG_TYPES)


@dataclass(frozen=True)
class OrderActions:
    report_usage: bool = False  # the order's provider, while the order is paid and not settled
    claim: bool = False  # the order's provider, once settled with a voucher part left to claim


@dataclass(frozen=True)
class OrderView:
    order: ComputeOrder
    names: dict[int, Any]
    claim: Reimbursement | None
    may: OrderActions
    # broken-trust records in force against the order's provider, for the provider and the
    # programme's administrator: its claim is held (not filed, not approved) while one holds
    provider_records: list[trust.RecordAgainst] = field(default_factory=list)
    provider_viewing: bool = False  # the viewer is the provider (the notice speaks to it)


def order_view(db: Session, actor: Actor, order_id: int) -> OrderView:
    """An order paid with vouchers, as its company, provider or the programme's administrator sees it."""
    order = redemption.get_order(db, actor, order_id)
    names = accounts.organisations_by_id(db, [order.company_org_id, order.provider_org_id])
    claim = redemption.claim_of(db, order.id)
    deliver = policy.allows(actor, "vouchers.order.deliver", redemption.order_resource_of(db, order))
    admin_org_id = db.get_one(Programme, order.programme_id).admin_org_id
    manage = policy.allows(actor, "vouchers.programme.manage", programme_resource(admin_org_id))
    held = trust.records_against(db, order.provider_org_id) if deliver or manage else []
    return OrderView(order, names, claim, OrderActions(
        report_usage=deliver and order.status == "paid",
        claim=(deliver and not held and order.status == "settled"
               and (order.settled_voucher_fen or 0) > order.returned_fen
               and (claim is None or claim.status == "rejected"))), held, actor.org_id == order.provider_org_id)


@dataclass(frozen=True)
class PublishActions:
    offer: bool = False  # publish a compute offering (an approved compute provider)
    create: bool = False  # create a programme (an approved voucher administrator)


@dataclass(frozen=True)
class PublishView:
    may: PublishActions
    compute_providers: list[Any]  # who may take part in a compute or model programme
    data_sellers: list[Any]  # who may take part in a data programme


def publish_view(db: Session, actor: Actor) -> PublishView:
    """The publish page's forms, each for whom the policy allows it; nobody else gets the page."""
    may = PublishActions(offer=policy.allows(actor, "vouchers.offering.publish"),
                         create=policy.allows(actor, "vouchers.programme.create"))
    if not (may.offer or may.create):
        raise PermissionDenied("Only an approved compute provider or voucher administrator publishes here.")
    providers: list[Any] = []
    sellers: list[Any] = []
    if may.create:
        providers = [o for o in accounts.organisations_of_type(db, "compute_provider") if o.status == "approved"]
        sellers = [o for kind in MERCHANT_ORG_TYPES for o in accounts.organisations_of_type(db, kind)
                   if o.status == "approved"][:500]
    return PublishView(may, providers, sellers)


@dataclass(frozen=True)
class ContractPaymentView:
    """The buyer's data-voucher payment of an exchange contract: per data programme that covers it,
    the buyer's vouchers, what they cover and what the wallet pays."""

    contract: Any
    offers: list[data_vouchers.PaymentOffer]


def contract_payment(db: Session, actor: Actor, contract: Any) -> ContractPaymentView | None:
    """For the buyer of a contract in force and still unpaid (``contract.pay``), the data programmes
    whose vouchers would pay part of it; None when there is nothing to offer."""
    if (contract.status != "active" or contract.payment_status != "unpaid" or contract.price_fen <= 0
            or contract.plan_kind not in exchange.PREPAID_KINDS
            or not policy.allows(actor, "contract.pay", trade(contract))):
        return None
    offers = data_vouchers.payment_offers(db, actor, contract)
    return ContractPaymentView(contract, offers) if offers else None
