"""The public log on the home page: how many entries anyone can check."""

from __future__ import annotations

from sqlalchemy.orm import Session

from qianshu.core.actor import Actor
from qianshu.core.home import Figure, Waiting
from qianshu.core.i18n import N_
from qianshu.translog.service import tree_size


def figures(db: Session) -> list[Figure]:
    return [Figure(N_("Entries in the public log"), tree_size(db), "/log")]


def waiting(db: Session, actor: Actor) -> list[Waiting]:
    return []
