"""What the catalogue's main pages show, each read by one function: the data and what the viewer
may do with it (``core.policy.allows``), so that a page offers a button only when pressing it would
not be refused. The portal (``pages.py``) renders these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from qianshu.catalog import demand, follows, permissions, product, service
from qianshu.catalog.models import EDITABLE_STATUSES, Demand, Listing, ListingChange
from qianshu.catalog.search import DemandQuery, SearchQuery, SearchResult, search_demands, search_listings
from qianshu.core.actor import Actor
from qianshu.core.policy import allows, require
from qianshu.core.settings import Settings

if TYPE_CHECKING:
    from qianshu.registry.models import Registration


@dataclass(frozen=True)
class ProductActions:
    follow: bool = False  # follow or unfollow (signed in, the product listed)
    manage: bool = False  # the editor: edit, price, submit, pause, resume
    delist: bool = False  # the holder or an operator, while the product is not delisted
    review: bool = False  # an operator, while the product waits for review


@dataclass(frozen=True)
class ProductView:
    listing: Listing
    registration: Registration
    sample: product.Sample
    profiles: list[Any]
    top_values: dict[str, list[list[Any]]]
    quality: list[Any]
    reports: list[Any]
    certificate: Any
    following: bool
    seller: product.Seller | None
    may: ProductActions
    # Other capabilities' sections (finance's forced sale of the asset ...): objects with a
    # ``template``, from the manifests' ``product_panel`` hooks.
    panels: list[Any] = field(default_factory=list)


def product_actions(actor: Actor, listing: Listing) -> ProductActions:
    resource = permissions.listing(listing)
    return ProductActions(
        follow=actor.user_id is not None and listing.status == "listed" and allows(actor, "catalog.personal"),
        manage=allows(actor, "listing.manage", resource),
        delist=listing.status != "delisted" and allows(actor, "listing.delist", resource),
        review=listing.status == "pending" and allows(actor, "listing.review"),
    )


def product_view(db: Session, actor: Actor, settings: Settings, listing_id: int,
                 panel_hooks: Iterable[Callable[[Session, Actor, Listing], Any]] = ()) -> ProductView:
    """The product page: the listing, its registration's profile, a masked sample, what the viewer
    may do, and the other capabilities' panels (``panel_hooks``, the manifests' ``product_panel``
    hooks). (Recording the view is the page's, in a write transaction of its own.)"""
    listing = service.get_listing(db, actor, listing_id)
    reg = product.registration(db, listing)
    profiles = product.column_profiles(db, reg.id)
    sample = product.masked_sample(db, settings, actor, listing)
    return ProductView(
        listing, reg, sample, profiles,
        {p.name: product.masked_top_values(p, sample.masked_columns) for p in profiles},
        product.quality_scores(db, reg.id), product.provider_reports(db, reg.id), product.certificate(db, reg.id),
        follows.is_following(db, actor, listing.id), product.seller(db, listing), product_actions(actor, listing),
        [panel for hook in panel_hooks if (panel := hook(db, actor, listing)) is not None],
    )


@dataclass(frozen=True)
class CatalogueView:
    result: SearchResult
    may_save_search: bool  # signed in: "save this search"
    may_offer: bool  # a merchant: the way to "my products"


def catalogue(db: Session, actor: Actor, query: SearchQuery) -> CatalogueView:
    """The catalogue list: one page of search results with facets, and what the viewer may do."""
    return CatalogueView(search_listings(db, query),
                         actor.user_id is not None and allows(actor, "catalog.personal"),
                         allows(actor, "listing.offer"))


@dataclass(frozen=True)
class ReviewQueue:
    listings: list[Listing]
    may_decide: bool  # approve or reject (an operator; other staff see the queue only)


def review_queue(db: Session, actor: Actor) -> ReviewQueue:
    return ReviewQueue(service.review_queue(db, actor), allows(actor, "listing.review"))


@dataclass(frozen=True)
class DemandPoolView:
    demands: list[Demand]  # one page of the public demands matching ``q``
    total: int
    matching: list[Demand]  # a merchant's: open demands its products could answer
    mine: list[Demand]  # the viewer's organisation's own demands
    may_post: bool  # a member of an approved organisation: the form to post a demand


def demand_pool(db: Session, actor: Actor, q: str) -> DemandPoolView:
    """The demand pool: public demands, those the viewer's products could answer, and its own."""
    rows, total = search_demands(db, DemandQuery(q=q))
    matching = demand.matching_demands(db, actor) if allows(actor, "demand.suggest") else []
    mine = demand.my_demands(db, actor) if actor.user_id is not None else []
    return DemandPoolView(rows, total, matching, mine, may_post=allows(actor, "demand.post"))


@dataclass(frozen=True)
class DemandView:
    demand: Demand
    responses: list[Any]  # the answers the viewer may see (the poster sees all; a merchant its own)
    my_products: list[Listing]  # the viewer's listed products, to answer with
    may_answer: bool  # a merchant, while it is open, not its own and not answered by the viewer's organisation yet
    may_choose: bool  # the viewer's organisation posted it, while it is open: choose an answer, close it


def demand_view(db: Session, actor: Actor, demand_id: int) -> DemandView:
    """One demand, the answers the viewer may see, and what the viewer may do with it."""
    found = demand.get_demand(db, actor, demand_id)
    products = [x for x in service.my_listings(db, actor) if x.status == "listed"] if actor.user_id else []
    is_open = found.status == "open"
    answered = actor.org_id is not None and any(r.org_id == actor.org_id for r in found.responses)
    return DemandView(found, demand.visible_responses(actor, found), products,
                      may_answer=(is_open and found.buyer_org_id != actor.org_id and not answered
                                  and allows(actor, "demand.answer")),
                      may_choose=is_open and allows(actor, "demand.manage", permissions.demand(found)))


@dataclass(frozen=True)
class EditorActions:
    submit: bool = False  # for listing review, from a draft or a rejected listing
    pause: bool = False
    resume: bool = False
    delist: bool = False  # the holder or an operator, while not delisted
    confirm_personal_data: bool = False  # submitting needs the confirmation: download of sensitive data
    edit: bool = False  # change the description (not while pending review, nor once delisted)
    add_plan: bool = False  # not once delisted
    # a new plan needs the confirmation: sensitive data found and the listing reviewed already
    # (before review it is confirmed at submission)
    confirm_plan_personal_data: bool = False


@dataclass(frozen=True)
class EditorView:
    listing: Listing
    history: list[ListingChange]
    sensitive_kinds: list[str]  # found by the registration's scan: a download needs confirming
    may: EditorActions


def listing_editor(db: Session, actor: Actor, listing_id: int) -> EditorView:
    """The listing editor: the listing, its change history, the personal data its registration's scan
    found, and which of the holder's moves (service.MOVES_FROM) and forms (EDITABLE_STATUSES,
    service.PLANS_CLOSED) the listing's status allows."""
    listing = service.get_listing(db, actor, listing_id)
    resource = permissions.listing(listing)
    require(actor, "listing.manage", resource)  # say so plainly rather than show an empty editor
    kinds = service.registration_sensitive_kinds(db, listing.registration_id)
    offers_download = any(p.active and "download" in p.delivery_modes for p in listing.plans)

    def can(move: str) -> bool:
        return listing.status in service.MOVES_FROM[move]

    may = EditorActions(submit=can("submit"), pause=can("pause"), resume=can("resume"),
                        delist=can("delist") and allows(actor, "listing.delist", resource),
                        confirm_personal_data=bool(kinds) and offers_download,
                        edit=listing.status in EDITABLE_STATUSES,
                        add_plan=listing.status not in service.PLANS_CLOSED,
                        confirm_plan_personal_data=bool(kinds) and service.reviewed_already(listing))
    return EditorView(listing, service.history(db, actor, listing_id), kinds, may)
