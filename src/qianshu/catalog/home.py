"""The catalogue on the home page: products listed; listings waiting for an operator's review."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.catalog.models import Listing
from qianshu.core.actor import Actor
from qianshu.core.home import Figure, Waiting
from qianshu.core.i18n import N_, NN_


def _count(db: Session, status: str) -> int:
    return int(db.scalar(select(func.count()).select_from(Listing).where(Listing.status == status)) or 0)


def figures(db: Session) -> list[Figure]:
    return [Figure(N_("Products listed"), _count(db, "listed"), "/catalog")]


def waiting(db: Session, actor: Actor) -> list[Waiting]:
    if not actor.has_staff_role("operator"):
        return []
    return [Waiting(*NN_("{n} listing awaits review", "{n} listings await review"), _count(db, "pending"),
                    "/operator/listings")]
