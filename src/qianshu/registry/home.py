"""The registry on the home page: certificates issued and on notice; reviews and returned drafts waiting."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core.actor import Actor
from qianshu.core.home import Figure, Waiting
from qianshu.core.i18n import N_, NN_
from qianshu.registry.models import Registration
from qianshu.registry.service import is_reviewer

# What the holder has to do something about: returned by a reviewer, or stuck before submission.
HOLDER_ACTION_STATUSES = ("returned", "failed", "ready")


def _count(db: Session, *statuses: str, holder: int | None = None) -> int:
    query = select(func.count()).select_from(Registration).where(Registration.status.in_(statuses))
    if holder is not None:
        query = query.where(Registration.holder_org_id == holder)
    return int(db.scalar(query) or 0)


def figures(db: Session) -> list[Figure]:
    return [Figure(N_("Certificates issued"), _count(db, "issued"), "/registry/notices"),
            Figure(N_("On public notice"), _count(db, "public_notice"), "/registry/notices")]


def waiting(db: Session, actor: Actor) -> list[Waiting]:
    found = []
    if is_reviewer(actor):
        found.append(Waiting(*NN_("{n} registration awaits review", "{n} registrations await review"),
                             _count(db, "submitted"), "/registry/review"))
    if actor.org_id is not None and not actor.is_staff:
        found.append(Waiting(*NN_("{n} of your registrations needs you", "{n} of your registrations need you"),
                             _count(db, *HOLDER_ACTION_STATUSES, holder=actor.org_id), "/registry"))
    return found
