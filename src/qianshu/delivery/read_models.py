"""What delivery's pages show, each read by one function: the data and what the viewer may do with
it, decided by the permission policy (``core.policy``) together with the contract's delivery mode,
so that a page offers a control only when using it would not be refused. The portal (``pages.py``,
``settings_pages.py``, ``channels/pages.py``) renders these, and delivery's panel on the exchange's
contract page (the manifest's ``contract_panel`` hook) wraps ``contract_panel``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from qianshu.catalog import permissions as catalog_permissions
from qianshu.catalog import service as catalog_service
from qianshu.core import policy
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.delivery import delta_tokens, links, sandbox_service, service
from qianshu.delivery import limits as api_limits
from qianshu.delivery.files import FORMATS
from qianshu.delivery.settings import DeliverySettings
from qianshu.exchange import service as exchange
from qianshu.exchange.permissions import trade

if TYPE_CHECKING:
    from qianshu.catalog.models import Listing

NUMERIC_TYPES = ("int", "uint", "float", "double", "decimal")



# --- a contract's delivery page: signed download links and Delta Sharing ----------------------------

@dataclass(frozen=True)
class ContractDeliveryView:
    contract: Any
    party: str | None  # the viewer's side of the contract ("buyer", "seller"; None: staff)
    can_download: bool  # issue signed download links (its buyer: ``delivery.download``)
    can_share: bool  # create, rotate and revoke the Delta Sharing token (its buyer: ``delivery.share``)
    download_mode: bool
    sharing_mode: bool
    links: list[Any]
    link_urls: dict[int, str]  # link id → its signed address, for whom may download only
    tokens: list[Any]
    events: list[Any]
    formats: tuple[str, ...] = FORMATS
    endpoint: str = ""
    now: datetime | None = None
    # What the buyer passes to the official client: the profile file as the portal names it, "#", the table.
    client_url: str = ""


def contract_delivery(db: Session, actor: Actor, settings: Settings, contract_id: int) -> ContractDeliveryView:
    """A download or Delta Sharing contract's links, tokens and fetches, for whom may read the
    contract (the exchange's ``get_contract``)."""
    contract = exchange.get_contract(db, actor, contract_id)
    resource = trade(contract)
    can_download = policy.allows(actor, "delivery.download", resource)
    rows = links.links_of(db, contract.id)
    base = settings.public_base
    urls = {x.id: base + links.link_path(settings, x) for x in rows} if can_download else {}
    return ContractDeliveryView(
        contract, exchange.party_of(actor, contract), can_download, policy.allows(actor, "delivery.share", resource),
        contract.delivery_mode == "download", contract.delivery_mode == "delta_sharing", rows, urls,
        delta_tokens.tokens_of(db, contract.id), links.delivery_events(db, contract.id),
        endpoint=base + delta_tokens.PREFIX, now=utcnow(),
        client_url=f"{delta_tokens.profile_file_name(contract.number)}#{delta_tokens.table_url(contract.number)}")


# --- delivery's panel on the exchange's contract page -------------------------------------------------

@dataclass(frozen=True)
class DeliveryPanelView:
    """A download or Delta Sharing contract: a link to its delivery page. A data API contract: its key
    and the usage reported to billing. A sandbox contract: its budget and query log."""

    contract: Any
    party: str | None
    key: Any = None
    usage: list[Any] = field(default_factory=list)
    queries: list[Any] = field(default_factory=list)
    budget: Any = None
    can_key: bool = False  # issue the API key (its buyer: ``data_api.key``)
    can_query: bool = False  # ask the sandbox (its buyer: ``sandbox.query``)
    can_limits: bool = False  # change an API contract's limits (its seller, operators: ``data_api.limits``)
    can_configure: bool = False  # change the product's sandbox (its seller: ``sandbox.configure``)
    # search a leaked file for the watermark of a copy of the product (its seller, operators: ``watermark.detect``)
    can_find_leak: bool = False


def contract_panel(db: Session, actor: Actor, contract: Any) -> DeliveryPanelView | None:
    """What the contract page shows of its delivery; None where there is nothing (a download or
    Delta Sharing contract not in force yet, another delivery mode)."""
    party = exchange.party_of(actor, contract)
    if contract.delivery_mode in ("download", "delta_sharing"):  # the modes that hand over watermarked copies
        if not contract.starts_at:
            return None
        listing = catalog_service.get_listing(db, SYSTEM, contract.catalogue_listing_id)
        return DeliveryPanelView(contract, party, can_find_leak=policy.allows(
            actor, "watermark.detect", catalog_permissions.listing(listing)))
    if contract.delivery_mode not in ("api", "sandbox"):
        return None
    summary = sandbox_service.contract_summary(db, actor, contract.id)
    resource = sandbox_service.exchange_resource(contract)
    api = contract.delivery_mode == "api"
    listing = catalog_service.get_listing(db, SYSTEM, contract.catalogue_listing_id)
    return DeliveryPanelView(
        contract, party, summary["key"], summary["usage"], summary["queries"], summary["budget"],
        can_key=api and policy.allows(actor, "data_api.key", resource),
        can_query=not api and policy.allows(actor, "sandbox.query", resource),
        can_limits=api and policy.allows(actor, "data_api.limits", resource),
        can_configure=not api and policy.allows(actor, "sandbox.configure", catalog_permissions.listing(listing)))


# --- the buyer's sandbox page ---------------------------------------------------------------------

@dataclass(frozen=True)
class SandboxQueryView:
    contract: Any
    budget: Any  # the contract's privacy budget (None: nothing spent yet)
    queries: list[Any]  # the contract's query log, newest first
    columns: list[tuple[str, str]]  # the table's columns and their types: what a question may name


def _columns_of(db: Session, settings: Settings, listing: Listing) -> list[tuple[str, str]]:
    try:
        return [(f.name, str(f.type)) for f in pq.read_schema(service.product_data(db, settings, listing))]
    except Exception:  # a product whose data is gone or unreadable: the page still shows the log
        return []


def sandbox_query(db: Session, actor: Actor, settings: Settings, contract_id: int) -> SandboxQueryView:
    """The sandbox of a contract, for whom may ask it (its buyer: ``sandbox.query``)."""
    summary = sandbox_service.contract_summary(db, actor, contract_id)
    contract = summary["contract"]
    policy.require(actor, "sandbox.query", sandbox_service.exchange_resource(contract))
    # a contract with no product (a forced sale's transfer of the asset itself) has no table to ask
    columns = ([] if contract.listing_id is None
               else _columns_of(db, settings, catalog_service.get_listing(db, SYSTEM, contract.listing_id)))
    return SandboxQueryView(contract, summary["budget"], summary["queries"], columns)


# --- the seller's settings: a product's sandbox, a data API contract's limits -----------------------

@dataclass(frozen=True)
class SandboxSettingsView:
    listing: Any
    columns: list[str]  # the product's columns (none when its data cannot be read)
    numeric: list[str]  # those that may have bounds
    current: sandbox_service.ProductSandbox  # what the seller set (the defaults where it set nothing)


def sandbox_settings(db: Session, actor: Actor, settings: Settings, listing_id: int) -> SandboxSettingsView:
    """A product's sandbox, for its seller only (``sandbox.configure``; anyone else is told there is
    no such product)."""
    listing = sandbox_service.listing_to_configure(db, actor, listing_id)
    columns: list[str] = []
    numeric: list[str] = []
    typed = _columns_of(db, settings, listing)
    columns = [name for name, _ in typed]
    numeric = [name for name, kind in typed if kind.startswith(NUMERIC_TYPES)]
    return SandboxSettingsView(listing, columns, numeric, sandbox_service.product_sandbox(db, settings, listing.id))


@dataclass(frozen=True)
class LimitsView:
    contract: Any
    limits: api_limits.ApiLimits  # the contract's limits now
    maxima: api_limits.ApiLimits  # the operator's maxima
    may_set: bool  # an API contract's seller, or an operator (``data_api.limits``)


def limits_view(db: Session, actor: Actor, settings: Settings, contract_id: int) -> LimitsView:
    """A contract's data API limits, for its parties and the exchange's staff (``trade.read``)."""
    section = settings.section(DeliverySettings)
    current = api_limits.contract_limits(db, actor, section, contract_id)
    contract = exchange.load_contract(db, contract_id)
    maxima = api_limits.ApiLimits(section.api_max_rate_per_minute, "month", section.api_max_calls_per_period,
                                  section.api_max_rows_per_period)
    may = contract.delivery_mode == "api" and policy.allows(actor, "data_api.limits", trade(contract))
    return LimitsView(contract, current, maxima, may)
