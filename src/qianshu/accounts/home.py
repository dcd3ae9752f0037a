"""Accounts on the home page: member organisations; applications waiting for an operator."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.accounts.models import Organisation
from qianshu.core.actor import Actor
from qianshu.core.home import Figure, Waiting
from qianshu.core.i18n import N_, NN_


def _count(db: Session, status: str) -> int:
    return int(db.scalar(select(func.count()).select_from(Organisation).where(Organisation.status == status)) or 0)


def figures(db: Session) -> list[Figure]:
    return [Figure(N_("Member organisations"), _count(db, "approved"), "/apply")]


def waiting(db: Session, actor: Actor) -> list[Waiting]:
    if not actor.has_staff_role("operator"):
        return []
    return [Waiting(*NN_("{n} organisation applied to join", "{n} organisations applied to join"),
                    _count(db, "pending"), "/operator/organisations?status=pending")]
