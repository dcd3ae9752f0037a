"""Following products, saved searches, and the catalogue's notifications.

When a followed product changes (its description, its plans, its status), every follower
gets a notification in the core inbox (core/inbox.py) in the same transaction as the change;
answers to a demand are told the same way. Notifications store an English message id and its
parameters, so each reader sees them in their own language.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from qianshu.accounts import permissions
from qianshu.catalog.models import Follow, Listing, SavedSearch
from qianshu.core import inbox
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, NotFound
from qianshu.core.inbox import Notification
from qianshu.core.timeutil import utcnow

CAPABILITY = "catalog"  # how the catalogue signs its notifications in the inbox
MAX_SAVED_SEARCHES = 50
# Popularity: a view counts 1, a follower 10, a completed transaction 50.
VIEW_WEIGHT, FOLLOW_WEIGHT, TRANSACTION_WEIGHT = 1, 10, 50


def popularity(listing: Listing) -> int:
    return (
        listing.views * VIEW_WEIGHT
        + listing.follower_count * FOLLOW_WEIGHT
        + listing.transaction_count * TRANSACTION_WEIGHT
    )


def _user_id(actor: Actor) -> int:
    permissions.require_signed_in(actor)
    if actor.user_id is None:
        raise NotFound("Not found.")
    return actor.user_id


def _public_listing(db: Session, listing_id: int) -> Listing:
    listing = db.get(Listing, listing_id)
    if listing is None or listing.status != "listed":
        raise NotFound("No such product in the catalogue.")
    return listing


def follow(db: Session, actor: Actor, listing_id: int) -> Follow:
    user_id = _user_id(actor)
    listing = _public_listing(db, listing_id)
    existing = db.scalar(select(Follow).where(Follow.user_id == user_id, Follow.listing_id == listing_id))
    if existing is not None:
        return existing
    row = Follow(user_id=user_id, listing_id=listing_id)
    db.add(row)
    _recount(db, listing)
    return row


def unfollow(db: Session, actor: Actor, listing_id: int) -> None:
    user_id = _user_id(actor)
    row = db.scalar(select(Follow).where(Follow.user_id == user_id, Follow.listing_id == listing_id))
    if row is not None:
        db.delete(row)
        listing = db.get(Listing, listing_id)
        if listing is not None:
            _recount(db, listing)


def _recount(db: Session, listing: Listing) -> None:
    db.flush()
    count = int(db.scalar(select(func.count()).select_from(Follow).where(Follow.listing_id == listing.id)) or 0)
    # A counter update must not bump the optimistic-lock version (editors would see false conflicts).
    db.execute(
        update(Listing)
        .where(Listing.id == listing.id)
        .values(
            follower_count=count,
            popularity=Listing.views * VIEW_WEIGHT
            + count * FOLLOW_WEIGHT
            + Listing.transaction_count * TRANSACTION_WEIGHT,
            counters_at=utcnow(),
        )
        .execution_options(synchronize_session=False, counters_only=True)  # see core.db: no cache keys on it
    )
    db.expire(listing, ["follower_count", "popularity"])


def is_following(db: Session, actor: Actor, listing_id: int) -> bool:
    if actor.user_id is None:
        return False
    return (
        db.scalar(select(Follow.id).where(Follow.user_id == actor.user_id, Follow.listing_id == listing_id)) is not None
    )


def followed_listings(db: Session, actor: Actor) -> list[Listing]:
    user_id = _user_id(actor)
    return list(
        db.scalars(
            select(Listing)
            .join(Follow, Follow.listing_id == Listing.id)
            .where(Follow.user_id == user_id)
            .order_by(Follow.created_at.desc())
        )
    )


def notify_followers(db: Session, listing: Listing, message: str, **params: Any) -> int:
    """Tell every follower of ``listing`` that it changed; returns how many were told."""
    user_ids = list(db.scalars(select(Follow.user_id).where(Follow.listing_id == listing.id)))
    params = {
        "title_zh": listing.title_zh or listing.title_en,
        "title_en": listing.title_en or listing.title_zh,
        **params,
    }
    return inbox.notify(db, CAPABILITY, message, users=user_ids, subject=("listing", listing.id),
                        link=f"/catalog/{listing.id}", **params)


def notify_user(
    db: Session,
    user_id: int,
    message: str,
    *,
    demand_id: int | None = None,
    listing_id: int | None = None,
    **params: Any,
) -> None:
    if demand_id is not None:
        subject, link = ("demand", demand_id), f"/demands/{demand_id}"
    elif listing_id is not None:
        subject, link = ("listing", listing_id), f"/catalog/{listing_id}"
    else:
        subject, link = None, ""
    inbox.notify(db, CAPABILITY, message, users=[user_id], subject=subject, link=link, **params)


def render_notification(note: Notification, lang: str) -> str:
    return inbox.render(note, lang)


def notifications(db: Session, actor: Actor, *, unread_only: bool = False, limit: int = 100) -> list[Notification]:
    """The catalogue's notifications in the actor's inbox, newest first."""
    _user_id(actor)
    return inbox.inbox(db, actor, unread_only=unread_only, capability=CAPABILITY, limit=limit)


def unread_count(db: Session, actor: Actor) -> int:
    if actor.user_id is None:
        return 0
    return inbox.unread_for(db, actor, capability=CAPABILITY).total


def mark_read(db: Session, actor: Actor) -> int:
    _user_id(actor)
    return inbox.mark_read(db, actor, capability=CAPABILITY)


def save_search(db: Session, actor: Actor, name: str, params: dict[str, Any]) -> SavedSearch:
    user_id = _user_id(actor)
    count = db.scalar(select(func.count()).select_from(SavedSearch).where(SavedSearch.user_id == user_id)) or 0
    if count >= MAX_SAVED_SEARCHES:
        raise Conflict("You can keep at most {max} saved searches.", max=MAX_SAVED_SEARCHES)
    allowed = ("q", "industry", "region", "data_type", "delivery", "price", "classification", "frequency", "sort")
    clean = {k: str(v)[:500] for k, v in params.items() if k in allowed and v not in ("", None)}
    row = SavedSearch(user_id=user_id, name=name[:100], params=clean)
    db.add(row)
    db.flush()
    return row


def saved_searches(db: Session, actor: Actor) -> list[SavedSearch]:
    user_id = _user_id(actor)
    return list(db.scalars(select(SavedSearch).where(SavedSearch.user_id == user_id).order_by(SavedSearch.id.desc())))


def delete_saved_search(db: Session, actor: Actor, search_id: int) -> None:
    user_id = _user_id(actor)
    row = db.get(SavedSearch, search_id)
    if row is None or row.user_id != user_id:
        raise NotFound("Not found.")
    db.delete(row)
