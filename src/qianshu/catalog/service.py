"""Listings: create from an issued registration, edit (with history), review, pause, delist.

Who may do what:

- the holder's organisation (any user of an approved organisation that holds the
  registration) creates, edits, submits, pauses, resumes and delists its products;
- exchange operators (staff role ``operator``) review submitted listings and may delist;
- everyone, anonymous included, sees listed products (:func:`get_public_listing`).

Every change is a row of ``catalog_listing_changes`` and an audit event, in the same
transaction. Edits carry the version the editor saw; a stale version is a 409, so two people
editing the same product never silently overwrite each other.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from qianshu.catalog import follows, permissions, policy, pricing
from qianshu.catalog.models import EDITABLE_STATUSES, Listing, ListingChange, PricingPlan, delivery_mask
from qianshu.catalog.schemas import ListingIn, ListingUpdate, PlanIn
from qianshu.catalog.search_text import listing_search_text
from qianshu.catalog.vocab import prefecture_of
from qianshu.core import audit
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import Label
from qianshu.core.money import Money
from qianshu.core.policy import allows, require
from qianshu.core.timeutil import utcnow
from qianshu.registry import service as registry

if TYPE_CHECKING:
    from qianshu.registry.models import Registration

EDITABLE_FIELDS = ("title_zh", "title_en", "description_zh", "description_en", "tags", "data_type", "licence")
MAX_TAG_LENGTH = 30
STALE_VERSION = (
    "This product was changed by someone else in the meantime (now version {current}); "
    "reload it and apply your change again."
)


# --- permissions ---------------------------------------------------------------------------


def can_manage(actor: Actor, listing: Listing) -> bool:
    return allows(actor, "listing.manage", permissions.listing(listing))


def _require_manager(actor: Actor, listing: Listing) -> None:
    require(actor, "listing.manage", permissions.listing(listing))


def _require_operator(actor: Actor) -> None:
    require(actor, "listing.review")


def _load(db: Session, listing_id: int) -> Listing:
    listing = db.get(Listing, listing_id)
    if listing is None:
        raise NotFound("No such product in the catalogue.")
    return listing


def get_listing(db: Session, actor: Actor, listing_id: int) -> Listing:
    """A product as its holder or exchange staff see it; others see listed products only."""
    listing = _load(db, listing_id)
    if allows(actor, "listing.read", permissions.listing(listing)):
        return listing
    raise NotFound("No such product in the catalogue.")


def get_public_listing(db: Session, listing_id: int) -> Listing:
    listing = _load(db, listing_id)
    if listing.status != "listed":
        raise NotFound("No such product in the catalogue.")
    return listing


# --- history -----------------------------------------------------------------------------


def _record(
    db: Session,
    actor: Actor,
    listing: Listing,
    action: str,
    *,
    from_status: str = "",
    changes: dict[str, Any] | None = None,
    reason: str = "",
) -> None:
    seen = listing.version
    try:
        db.flush()  # the version column is bumped on flush
    except StaleDataError:
        # A concurrent transaction committed a newer version between our read and our write.
        raise Conflict(STALE_VERSION, current=seen + 1) from None
    db.add(
        ListingChange(
            listing_id=listing.id,
            version=listing.version,
            actor_user_id=actor.user_id,
            actor_label=actor.display_name[:200],
            action=action,
            from_status=from_status,
            to_status=listing.status,
            changes=changes or {},
            reason=reason,
        )
    )
    audit.record(
        db,
        actor,
        f"listing.{action}",
        target_type="listing",
        target_id=listing.id,
        target_org_id=listing.org_id,
        status=listing.status,
        reason=reason,
        fields=sorted(changes or {}),
    )


def history(db: Session, actor: Actor, listing_id: int) -> list[ListingChange]:
    get_listing(db, actor, listing_id)
    return list(
        db.scalars(
            select(ListingChange).where(ListingChange.listing_id == listing_id).order_by(ListingChange.id.desc())
        )
    )


# --- search text -------------------------------------------------------------------------


def refresh_search_text(listing: Listing) -> None:
    """Re-tokenise titles (weighted) and the rest; the FTS index follows in the same transaction."""
    listing.search_title, listing.search_body = listing_search_text(
        title_zh=listing.title_zh, title_en=listing.title_en, description_zh=listing.description_zh,
        description_en=listing.description_en, tags=listing.tags, industry_code=listing.industry_code,
        industry_section=listing.industry_section, division_code=listing.division_code,
        prefecture_code=listing.prefecture_code)


def _clean_tags(tags: list[str]) -> list[str]:
    out: list[str] = []
    for tag in tags:
        tag = " ".join(tag.split())[:MAX_TAG_LENGTH]
        if tag and tag not in out:
            out.append(tag)
    return out


# --- create and edit -----------------------------------------------------------------------


def create_listing(db: Session, actor: Actor, data: ListingIn) -> Listing:
    require(actor, "listing.create")
    registration = registry.find_registration(db, data.registration_id)
    if registration is None or registration.holder_org_id != actor.org_id:
        raise NotFound("No such registration of your organisation.")
    if registration.status != "issued":
        raise Conflict("Only a registration with an issued certificate can be listed.")
    listing = Listing(
        registration_id=registration.id,
        org_id=registration.holder_org_id,
        created_by=actor.user_id,
        title_zh=data.title_zh or registration.title_zh,
        title_en=data.title_en or registration.title_en,
        description_zh=data.description_zh or registration.description_zh,
        description_en=data.description_en or registration.description_en,
        tags=_clean_tags(data.tags),
        data_type=data.data_type,
        licence=data.licence,
    )
    copy_registration_facets(listing, registration)
    if not (listing.title_zh or listing.title_en):
        raise InvalidInput("{field} is required.", field="title_zh")
    refresh_search_text(listing)
    db.add(listing)
    db.flush()
    _record(db, actor, listing, "created")
    return listing


def copy_registration_facets(listing: Listing, registration: Registration) -> None:
    listing.industry_code = registration.industry_code or ""
    listing.industry_section = (registration.industry_code or "")[:1]
    listing.division_code = registration.division_code or ""
    listing.prefecture_code = prefecture_of(listing.division_code)
    listing.update_frequency = registration.update_frequency or ""
    listing.classification = registration.classification or registration.suggested_classification or "general"
    listing.personal_info = registration.personal_info or registration.suggested_personal_info or "none"


def update_listing(db: Session, actor: Actor, listing_id: int, data: ListingUpdate) -> Listing:
    listing = _load(db, listing_id)
    _require_manager(actor, listing)
    if listing.version != data.version:
        raise Conflict(STALE_VERSION, current=listing.version)
    if listing.status not in EDITABLE_STATUSES:
        raise Conflict("A product in status '{status}' cannot be edited.",
                       status=Label("listing status", listing.status))
    changes: dict[str, Any] = {}
    for name in EDITABLE_FIELDS:
        value = getattr(data, name)
        if value is None:
            continue
        if name == "tags":
            value = _clean_tags(value)
        old = getattr(listing, name)
        if value != old:
            changes[name] = [old, value]
            setattr(listing, name, value)
    if not (listing.title_zh or listing.title_en):
        raise InvalidInput("{field} is required.", field="title_zh")
    if not changes:
        return listing
    listing.updated_at = utcnow()
    refresh_search_text(listing)
    _record(db, actor, listing, "updated", from_status=listing.status, changes=changes, reason=data.note)
    if listing.status in ("listed", "paused"):
        follows.notify_followers(db, listing, "The product “{title}” you follow was updated.")
    return listing


# --- plans ---------------------------------------------------------------------------------


def _refresh_prices(listing: Listing) -> None:
    active = [p for p in listing.plans if p.active]
    listing.min_price_fen = pricing.lowest_price([(p.kind, p.price_fen) for p in active])
    modes: list[str] = []
    for plan in active:
        modes.extend(plan.delivery_modes)
    listing.delivery_mask = delivery_mask(modes)


def add_plan(db: Session, actor: Actor, listing_id: int, data: PlanIn, *, base_url: str = "") -> PricingPlan:
    listing = _load(db, listing_id)
    _require_manager(actor, listing)
    if listing.status in PLANS_CLOSED:
        raise Conflict("A product in status '{status}' cannot be edited.",
                       status=Label("listing status", listing.status))
    if len([p for p in listing.plans if p.active]) >= 10:
        raise Conflict("A product can have at most {max} active plans.", max=10)
    price = Money.from_yuan(data.price, "price").fen if data.price else None
    price = pricing.check_plan(data.kind, price, list(data.delivery_modes))
    if reviewed_already(listing):  # confirmed here, not at submission
        require_personal_data_confirmation(sensitive_download_kinds(db, listing, list(data.delivery_modes)),
                                           data.confirm_personal_data)
    plan = PricingPlan(
        name_zh=data.name_zh or "",
        name_en=data.name_en or "",
        kind=data.kind,
        price_fen=price,
        delivery_modes=list(dict.fromkeys(data.delivery_modes)),
        position=len(listing.plans),
    )
    listing.plans.append(plan)
    db.flush()
    terms = policy.PolicyTerms(
        tuple(data.policy.purposes),
        data.policy.term_days,
        data.policy.territory,
        data.policy.onward_transfer,
        data.policy.resale,
        data.policy.attribution,
    )
    plan.policy = policy.build_odrl(
        terms,
        uid=policy.policy_uri(base_url, listing.id, plan.id),
        target=f"{base_url}/catalog/{listing.id}",
        assigner=f"{base_url}/organisations/{listing.org_id}",
    )
    _refresh_prices(listing)
    listing.updated_at = utcnow()
    _record(
        db,
        actor,
        listing,
        "plan_added",
        from_status=listing.status,
        changes={"plan": [None, {"id": plan.id, "kind": plan.kind, "price_fen": plan.price_fen}]},
    )
    if listing.status in ("listed", "paused"):
        follows.notify_followers(db, listing, "The product “{title}” you follow has a new pricing plan.")
    return plan


def withdraw_plan(db: Session, actor: Actor, listing_id: int, plan_id: int) -> PricingPlan:
    listing = _load(db, listing_id)
    _require_manager(actor, listing)
    plan = next((p for p in listing.plans if p.id == plan_id), None)
    if plan is None:
        raise NotFound("Not found.")
    if plan.active:
        plan.active = False
        _refresh_prices(listing)
        listing.updated_at = utcnow()
        _record(
            db,
            actor,
            listing,
            "plan_withdrawn",
            from_status=listing.status,
            changes={"plan": [{"id": plan.id, "kind": plan.kind}, None]},
        )
        if listing.status in ("listed", "paused"):
            follows.notify_followers(db, listing, "The product “{title}” you follow withdrew a pricing plan.")
    return plan


# --- workflow --------------------------------------------------------------------------------


def _transition(
    db: Session, actor: Actor, listing: Listing, allowed_from: tuple[str, ...], to: str, action: str, reason: str = "",
    changes: dict[str, Any] | None = None,
) -> Listing:
    if listing.status not in allowed_from:
        raise Conflict("A product in status '{status}' cannot be {action}.",
                       status=Label("listing status", listing.status), action=action)
    before = listing.status
    listing.status = to
    listing.updated_at = utcnow()
    _record(db, actor, listing, action, from_status=before, reason=reason, changes=changes)
    return listing


class KindList(Label):
    """Several personal-data kinds as one message parameter: 公民身份号码、银行卡号 / resident ID number, ..."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (KindList, (self.context, str(self)))

    def render(self, lang: str) -> str:
        names = [Label(self.context, kind).render(lang) for kind in str(self).split(",") if kind]
        return ("、" if lang == "zh" else ", ").join(names)


def registration_sensitive_kinds(db: Session, registration_id: int) -> list[str]:
    """Sensitive personal-data kinds the registration's scan found (for the seller's warnings)."""
    return registry.sensitive_pii_kinds(db, registration_id)


def sensitive_download_kinds(db: Session, listing: Listing, modes: list[str] | None = None) -> list[str]:
    """The sensitive personal-data kinds (resident ID ...) a download would hand over: those the
    registration's scan found, when a plan (``modes``: the one being added; else the active
    plans) offers the data for download. Empty when nothing needs the seller's confirmation."""
    offered = modes if modes is not None else [m for p in listing.plans if p.active for m in p.delivery_modes]
    if "download" not in offered:
        return []
    return registry.sensitive_pii_kinds(db, listing.registration_id)


def require_personal_data_confirmation(kinds: list[str], confirmed: bool) -> None:
    """Downloading sensitive personal data needs the seller's explicit confirmation."""
    if kinds and not confirmed:
        raise InvalidInput(
            "This product offers its data for download and the registration's scan found sensitive "
            "personal information ({kinds}). Confirm that you have a lawful basis and the individuals' "
            "separate consent to provide it ({field}).",
            field="confirm_personal_data", kinds=KindList("personal-data kind", ",".join(kinds)))


# No plan is added to a delisted product (the editor, read_models.listing_editor, offers none).
PLANS_CLOSED = ("delisted",)


def reviewed_already(listing: Listing) -> bool:
    """Past submission: a new plan's download of sensitive data is confirmed with the plan."""
    return listing.status not in MOVES_FROM["submit"]


# The statuses each of the holder's moves starts from; the editor (read_models.listing_editor) offers a
# move only from these, so a button is never one the service would refuse for the listing's status.
MOVES_FROM: dict[str, tuple[str, ...]] = {
    "submit": ("draft", "rejected"), "pause": ("listed",), "resume": ("paused",),
    "delist": ("draft", "pending", "listed", "paused", "rejected"),
}


def submit_listing(db: Session, actor: Actor, listing_id: int, *, confirm_personal_data: bool = False) -> Listing:
    listing = _load(db, listing_id)
    _require_manager(actor, listing)
    if not any(p.active for p in listing.plans):
        raise Conflict("Add at least one pricing plan before submitting the product for review.")
    registration = registry.load_registration(db, listing.registration_id)
    if registration.status != "issued":
        raise Conflict("Only a registration with an issued certificate can be listed.")
    kinds = sensitive_download_kinds(db, listing)
    require_personal_data_confirmation(kinds, confirm_personal_data)
    listing.submitted_at = utcnow()
    return _transition(db, actor, listing, MOVES_FROM["submit"], "pending", "submitted",
                       changes={"personal_data_confirmed": kinds} if kinds else None)


def review_queue(db: Session, actor: Actor) -> list[Listing]:
    _require_operator(actor)
    return list(db.scalars(select(Listing).where(Listing.status == "pending").order_by(Listing.submitted_at)))


def review_listing(db: Session, actor: Actor, listing_id: int, decision: str, reason: str = "") -> Listing:
    """The operator's listing review (挂牌审核): ``approve`` lists the product, ``reject`` returns it."""
    _require_operator(actor)
    listing = _load(db, listing_id)
    if decision not in ("approve", "reject"):
        raise InvalidInput("{field} must be one of: {expected}.", field="decision", expected="approve, reject")
    if decision == "reject" and not reason.strip():
        raise InvalidInput("{field} is required.", field="reason")
    listing.reviewed_by, listing.reviewed_at, listing.review_reason = actor.user_id, utcnow(), reason
    if decision == "approve":
        registration = registry.load_registration(db, listing.registration_id)
        if registration.status != "issued":
            raise Conflict("Only a registration with an issued certificate can be listed.")
        listing.listed_at = listing.listed_at or utcnow()
        return _transition(db, actor, listing, ("pending",), "listed", "approved", reason)
    return _transition(db, actor, listing, ("pending",), "rejected", "rejected", reason)


def pause_listing(db: Session, actor: Actor, listing_id: int, reason: str = "") -> Listing:
    listing = _load(db, listing_id)
    _require_manager(actor, listing)
    _transition(db, actor, listing, MOVES_FROM["pause"], "paused", "paused", reason)
    follows.notify_followers(db, listing, "The product “{title}” you follow was paused.")
    return listing


def resume_listing(db: Session, actor: Actor, listing_id: int) -> Listing:
    listing = _load(db, listing_id)
    _require_manager(actor, listing)
    _transition(db, actor, listing, MOVES_FROM["resume"], "listed", "resumed")
    follows.notify_followers(db, listing, "The product “{title}” you follow is available again.")
    return listing


def delist_listing(db: Session, actor: Actor, listing_id: int, reason: str = "") -> Listing:
    listing = _load(db, listing_id)
    require(actor, "listing.delist", permissions.listing(listing))
    listing.delisted_at = utcnow()
    _transition(db, actor, listing, MOVES_FROM["delist"], "delisted", "delisted", reason)
    follows.notify_followers(db, listing, "The product “{title}” you follow was delisted.")
    return listing


def delist_for_registration(db: Session, actor: Actor, registration_id: int, reason: str) -> list[Listing]:
    """A revoked (or cancelled) registration takes its products off the market at once."""
    listings = list(
        db.scalars(select(Listing).where(Listing.registration_id == registration_id, Listing.status != "delisted"))
    )
    for listing in listings:
        before = listing.status
        listing.status, listing.delisted_at, listing.updated_at = "delisted", utcnow(), utcnow()
        _record(db, actor, listing, "delisted", from_status=before, reason=reason or "registration revoked")
        follows.notify_followers(
            db, listing, "The product “{title}” you follow was delisted: its registration was revoked."
        )
    return listings


# --- ownership views and counters --------------------------------------------------------------


def my_listings(db: Session, actor: Actor) -> list[Listing]:
    require(actor, "catalog.personal")
    if actor.org_id is None:
        return []
    return list(
        db.scalars(
            select(Listing).where(Listing.org_id == actor.org_id).order_by(Listing.updated_at.desc(), Listing.id.desc())
        )
    )


def listable_registrations(db: Session, actor: Actor) -> list[Registration]:
    """The organisation's issued registrations (any may be listed as one or more products)."""
    require(actor, "catalog.personal")
    if actor.org_id is None:
        return []
    return registry.issued_of_holder(db, actor.org_id)


def _bump(db: Session, listing_id: int, counter: Any, weight: int, times: int = 1) -> None:
    """A plain UPDATE of a counter and the popularity, so it never conflicts with editors."""
    db.execute(
        update(Listing)
        .where(Listing.id == listing_id)
        .values({counter: counter + times, Listing.popularity: Listing.popularity + weight * times,
                 Listing.counters_at: utcnow()})
        .execution_options(synchronize_session=False, counters_only=True)  # see core.db: no cache keys on it
    )


def record_view(db: Session, listing_id: int) -> None:
    """Count a view of a product page."""
    _bump(db, listing_id, Listing.views, follows.VIEW_WEIGHT)


def record_views(db: Session, listing_id: int, views: int) -> None:
    """Count ``views`` views of a product page at once (``catalog/view_counts.py``)."""
    _bump(db, listing_id, Listing.views, follows.VIEW_WEIGHT, views)


def set_transaction_counts(db: Session, counts: Mapping[int, int]) -> int:
    """For the exchange: each product's number of completed sales, counted from its contracts;
    popularity follows. Only products whose count changed are written (and so
    locked), in one order; returns how many. The exchange recounts on a schedule instead of
    bumping the count in each settlement, where the product's row was a lock every settlement of
    one product queued on (docs/exchange.md, "Performance")."""
    current = dict(db.execute(select(Listing.id, Listing.transaction_count)
                              .where(Listing.id.in_(list(counts)))).all()) if counts else {}
    changed = 0
    for listing_id in sorted(current):  # one order: no deadlock with another recount
        if counts[listing_id] == current[listing_id]:
            continue
        count = counts[listing_id]
        # the new count, and popularity computed again from the row's counters (nothing is added:
        # a recount running at the same time writes the same values)
        db.execute(update(Listing).where(Listing.id == listing_id, Listing.transaction_count != count)
                   .values({Listing.transaction_count: count,
                            Listing.popularity: Listing.views * follows.VIEW_WEIGHT
                            + Listing.follower_count * follows.FOLLOW_WEIGHT + count * follows.TRANSACTION_WEIGHT,
                            Listing.counters_at: utcnow()})
                   .execution_options(synchronize_session=False, counters_only=True))
        changed += 1
    return changed


@dataclass(frozen=True)
class ListingFacts:
    """What public statistics need of a product: its names, industry section and region."""

    id: int
    title_zh: str
    title_en: str
    industry_section: str
    division_code: str
    industry_code: str = ""  # the GB/T 4754 division ("G54"), for finance's market comparables
    registration_id: int = 0


def listing_facts(db: Session, listing_ids: Collection[int]) -> dict[int, ListingFacts]:
    """Facts of many products at once (the exchange's statistics group contracts by them)."""
    if not listing_ids:
        return {}
    rows = db.execute(select(Listing.id, Listing.title_zh, Listing.title_en, Listing.industry_section,
                             Listing.division_code, Listing.industry_code, Listing.registration_id)
                      .where(Listing.id.in_(list(listing_ids)))).all()
    return {row[0]: ListingFacts(*row) for row in rows}


def listed_dates(db: Session) -> list[datetime]:
    """When each product now or once listed was first listed (for "products listed over time")."""
    return list(db.scalars(select(Listing.listed_at).where(Listing.listed_at.is_not(None))
                           .order_by(Listing.listed_at)))
