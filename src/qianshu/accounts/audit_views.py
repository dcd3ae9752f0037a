"""Browsing the audit trail: operators and auditors see all of it, filtered and paged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from qianshu.core import policy
from qianshu.core.actor import Actor
from qianshu.core.audit import AuditEvent

PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    org_id: int | None = None
    user_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    total: int
    page: int
    pages: int


def _filtered(f: AuditFilter) -> Select[Any]:
    query = select(AuditEvent)
    if f.action:
        query = query.where(AuditEvent.action.startswith(f.action[:80], autoescape=True))
    if f.org_id is not None:
        query = query.where((AuditEvent.actor_org_id == f.org_id) | (AuditEvent.target_org_id == f.org_id))
    if f.user_id is not None:
        query = query.where(AuditEvent.actor_user_id == f.user_id)
    if f.since is not None:
        query = query.where(AuditEvent.at >= f.since)
    if f.until is not None:
        query = query.where(AuditEvent.at < f.until)
    return query


def browse_audit(db: Session, actor: Actor, f: AuditFilter) -> AuditPage:
    policy.require(actor, "audit.read")
    query = _filtered(f)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, f.page), pages)
    events = list(db.scalars(query.order_by(AuditEvent.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    return AuditPage(events=events, total=total, page=page, pages=pages)
