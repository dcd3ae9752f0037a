"""What finance's pages show, each read by one function: the data and what the viewer may do with
it, decided by the permission policy (``core.policy``) together with the state the services check,
so that a page offers a control only when using it would not be refused. The portal
(``pages.py``, ``accounting_pages.py``, ``sale_pages.py``) renders these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import policy
from qianshu.core.actor import Actor
from qianshu.core.errors import QianshuError
from qianshu.core.settings import Settings
from qianshu.core.signing import Ed25519Signer
from qianshu.exchange import transfers
from qianshu.finance import accounting, auction, sale, service, valuation
from qianshu.finance.models import OPEN_STATUSES, ForcedSale, LtvLimit, Pledge, SaleBid, Valuation
from qianshu.finance.permissions import pledge_resource, valuation_resource
from qianshu.finance.settings import FinanceSettings
from qianshu.registry import service as registry


def _pledges_allowing(actor: Actor, pledges: list[Pledge], action: str) -> frozenset[int]:
    return frozenset(p.id for p in pledges
                     if policy.allows(actor, action, pledge_resource(p.pledgor_org_id, p.pledgee_org_id)))


@dataclass(frozen=True)
class LookupView:
    """A certificate's standing, its pledges the viewer may read, and which of them it may act on."""

    found: service.Standing | None = None
    may_confirm: frozenset[int] = frozenset()  # the holder confirms a pending pledge
    may_manage: frozenset[int] = frozenset()  # the pledgee amends, releases, enforces, withdraws a sale
    may_amend: frozenset[int] = frozenset()  # the pledgee or the pledgor proposes an amendment
    may_pledge: bool = False  # an approved bank, over a valid certificate
    valuation: Valuation | None = None  # the asset's latest signed valuation
    sales: list[ForcedSale] = field(default_factory=list)  # the asset's forced sales (public)
    # the holder (public, as on the certificate) and the banks and pledgors of the pledges shown
    organisations: dict[int, Any] = field(default_factory=dict)
    transfer_under_way: bool = False  # the rights are passing to another holder: no new pledge
    # the registry's transfer registrations that enforcements produced, which the viewer may open
    readable_transfers: frozenset[int] = frozenset()


def readable_registrations(db: Session, actor: Actor, ids: set[int]) -> frozenset[int]:
    """Those of the registrations the viewer may open (their holder, transferee, staff, or anyone
    once in public notice): a link the viewer cannot follow is not shown."""
    readable = set()
    for rid in ids:
        try:
            registry.get_registration(db, actor, rid)
        except QianshuError:
            continue
        readable.add(rid)
    return frozenset(readable)


def _organisations_of(db: Session, pledges: list[Pledge], *more: int) -> dict[int, Any]:
    return accounts.organisations_by_id(db, {*more, *(p.pledgee_org_id for p in pledges),
                                             *(p.pledgor_org_id for p in pledges)})


def certificate_lookup(db: Session, actor: Actor, number: str) -> LookupView:
    found = service.standing(db, actor, number)
    confirm = _pledges_allowing(actor, found.pledges, "finance.pledge.confirm")
    manage = _pledges_allowing(actor, found.pledges, "finance.pledge.manage")
    passing = registry.transfer_under_way(db, found.registration_id) is not None
    return LookupView(found, confirm, manage, manage | confirm,
                      found.status == "valid" and not passing and policy.allows(actor, "finance.pledge.create"),
                      service.latest_signed_valuation(db, found.registration_id),
                      sale.sales_of(db, found.registration_id),
                      _organisations_of(db, found.pledges, found.holder_org_id), passing,
                      readable_registrations(db, actor, {int(e.details["transfer_registration_id"])
                                                         for p in found.pledges for e in p.events
                                                         if (e.details or {}).get("transfer_registration_id")}))


@dataclass(frozen=True)
class PortfolioView:
    pledges: list[Pledge]
    secured_open_fen: int
    limits: list[LtvLimit]
    default_limit_bp: int
    # pledge id → the loan-to-value (bp) of the asset's open pledges on its latest signed valuation,
    # for the open pledges whose asset has one
    current_ltv: dict[int, int] = field(default_factory=dict)
    organisations: dict[int, Any] = field(default_factory=dict)  # the pledgors (borrowers)
    may_set_limits: bool = False  # an administrator of the bank


def portfolio(db: Session, actor: Actor, settings: Settings) -> PortfolioView:
    """The bank's pledges (``finance.portfolio``, checked by the service), its limits, and the
    current loan-to-value of each open pledge's asset."""
    pledges = service.portfolio(db, actor)
    current: dict[int, int] = {}
    for p in pledges:
        if p.status in OPEN_STATUSES:
            latest = service.latest_signed_valuation(db, p.registration_id)
            if latest is not None and latest.value_fen:
                secured = sum(o.secured_fen for o in service.open_pledges_of(db, p.registration_id))
                current[p.id] = secured * 10_000 // latest.value_fen
    return PortfolioView(pledges, sum(p.secured_fen for p in pledges if p.status in OPEN_STATUSES),
                         service.ltv_limits(db, actor), settings.section(FinanceSettings).default_ltv_limit_bp,
                         current, _organisations_of(db, pledges), policy.allows(actor, "finance.ltv.set"))


@dataclass(frozen=True)
class ValuationsView:
    valuations: list[Valuation]  # the appraiser organisation's worksheets, newest first
    may_start: bool  # start a worksheet (an approved appraiser)


def valuations(db: Session, actor: Actor) -> ValuationsView:
    """The appraiser's worksheets (the service lets only an appraiser see them: ``finance.valuation.prepare``)."""
    return ValuationsView(valuation.valuations_of(db, actor), policy.allows(actor, "finance.valuation.prepare"))


@dataclass(frozen=True)
class AccountingView:
    pack: accounting.Pack
    may_keep: bool  # record and remove costs, choose what an asset is held for


def accounting_pack(db: Session, actor: Actor, as_of: date | None = None) -> AccountingView:
    """The holder's accounting pack on ``as_of`` (today by default); the service lets only the holder
    (and the exchange's auditors) see it, and the same action keeps it (``finance.accounting``)."""
    found = accounting.pack(db, actor, as_of)
    return AccountingView(found, policy.allows(actor, "finance.accounting", accounting.holder_resource(found.org_id)))


@dataclass(frozen=True)
class WorksheetView:
    valuation: Any
    may_edit: bool  # its own appraiser, while a draft
    verified: bool | None  # the signature verifies (None: not signed yet)


def worksheet(db: Session, actor: Actor, valuation_id: int) -> WorksheetView:
    found = valuation.get_valuation(db, actor, valuation_id)
    holder = service.registration_standing(db, found.certificate_number)[0].holder_org_id
    may_edit = found.status == "draft" and policy.allows(
        actor, "finance.valuation.sign", valuation_resource(found.appraiser_org_id, holder, False))
    return WorksheetView(found, may_edit, valuation.verify_valuation(db, found) if found.status == "signed" else None)


@dataclass(frozen=True)
class SalesView:
    sales: list[ForcedSale]
    may_buy: bool  # an approved organisation (the page hides the button on its own sales)
    org_id: int | None = None  # the viewer's organisation: no button on its own sale (holder or bank)


def forced_sales(db: Session, actor: Actor) -> SalesView:
    return SalesView(sale.open_sales(db, actor), policy.allows(actor, "finance.sale.buy"), actor.org_id)


@dataclass(frozen=True)
class SaleView:
    """A forced sale as its page shows it: the offer, the bids (best first), what a bid must be."""

    sale: ForcedSale
    bids: list[SaleBid]
    minimum_fen: int | None  # the least a bid may be now (None: not taking bids)
    may_bid: bool = False  # the viewer may bid: an approved organisation, neither holder nor bank
    viewer_org_id: int | None = None  # the viewer's own bids are marked
    # The sale's exchange contract may be read by the viewer (its parties, the bank that sold, staff).
    contract_readable: bool = False
    # a sale at a fixed price, still offered: the viewer may buy it (as on the list of sales)
    may_buy: bool = False
    # the registry's transfer registration the sale produced may be opened by the viewer
    transfer_readable: bool = False


def forced_sale(db: Session, actor: Actor, settings: Settings, signer: Ed25519Signer, sale_id: int) -> SaleView:
    """The sale, closed first if it is past its closing time (so the caller reads in a write
    transaction)."""
    policy.require(actor, "finance.lookup")
    found = auction.close_sale(db, settings, signer, sale_id)
    bids = auction.bids_of(db, found.id)
    taking = found.status == "listed" and found.closes_at is not None and not auction.is_due(found)
    buyer = policy.allows(actor, "finance.sale.buy") and actor.org_id not in (found.pledgee_org_id,
                                                                              found.pledgor_org_id)
    readable = found.contract_id is not None and transfers.contract_readable(db, actor, found.contract_id)
    transfer = found.transfer_registration_id
    return SaleView(found, bids, auction.minimum_bid(db, found) if taking else None, taking and buyer,
                    actor.org_id, readable, found.status == "listed" and found.closes_at is None and buyer,
                    transfer is not None and bool(readable_registrations(db, actor, {transfer})))
