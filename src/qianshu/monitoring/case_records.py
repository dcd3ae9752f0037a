"""What every step of a monitoring case leaves behind: its append-only event, the next step's
deadline, and a note in the inbox of the caseworkers who must do it (by jurisdiction)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import inbox
from qianshu.core.actor import Actor
from qianshu.core.timeutil import utcnow
from qianshu.monitoring.models import Case, CaseEvent

CAPABILITY = "monitoring"


def due_in(days: int | None) -> datetime | None:
    return utcnow() + timedelta(days=days) if days is not None else None


def record_event(db: Session, actor: Actor, case: Case, step: str, before: str, *, note: str = "",
                 details: Mapping[str, Any] | None = None, files: Sequence[Mapping[str, Any]] = ()) -> CaseEvent:
    event = CaseEvent(case_id=case.id, step=step, stage_before=before, stage_after=case.stage,
                      actor_user_id=actor.user_id, actor_label=actor.display_name[:200], note=note[:4000],
                      details=dict(details or {}), files=[dict(f) for f in files])
    db.add(event)
    return event


def tell(db: Session, case: Case, level: str, message: str, known: dict[str, list[int]] | None = None) -> None:
    """Tell the caseworkers who must do the case's next step (their jurisdiction is the case's
    village, township or county), in their inbox."""
    tell_at(db, case.id, case.division_code, case.stage, level, message, known)


def tell_at(db: Session, case_id: int, division_code: str, stage: str, level: str, message: str,
            known: dict[str, list[int]] | None = None) -> None:
    if not level:
        return
    code = {"village": division_code, "township": division_code[:9], "county": division_code[:6]}[level]
    if known is not None and code in known:
        users = known[code]
    else:
        users = [u.id for u in accounts.users_with_jurisdiction(db, code)]
        if known is not None:
            known[code] = users
    if users:
        inbox.notify(db, CAPABILITY, message, users=users, subject=("monitoring_case", case_id),
                     link=f"/monitoring/cases/{case_id}", case=case_id,
                     step_zh=stage_label(stage, "zh"), step_en=stage_label(stage, "en"))


def stage_label(stage: str, lang: str) -> str:
    from qianshu.core.i18n import label

    return label(stage, "case stage", lang)
