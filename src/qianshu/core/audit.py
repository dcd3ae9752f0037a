"""The audit trail: who did what, for which organisation, when and from where.

Rows are written by services in the same transaction as the change they describe, so a
rolled-back change leaves no audit row and a committed one always has its row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from qianshu.core.actor import Actor
from qianshu.core.db import Base
from qianshu.core.timeutil import utcnow

MAX_DETAIL_TEXT = 500


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"), Index("ix_audit_events_action", "action"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    via: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str] = mapped_column(String(40), default="")
    target_id: Mapped[str] = mapped_column(String(80), default="")
    target_org_id: Mapped[int | None] = mapped_column(index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_DETAIL_TEXT:
        return value[:MAX_DETAIL_TEXT] + "…"
    return value


def record(
    db: Session,
    actor: Actor,
    action: str,
    *,
    target_type: str = "",
    target_id: object = "",
    target_org_id: int | None = None,
    **detail: Any,
) -> AuditEvent:
    event = AuditEvent(
        actor_user_id=actor.user_id,
        actor_org_id=actor.org_id,
        actor_label=actor.display_name[:200],
        via=actor.via,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        target_org_id=target_org_id,
        ip=actor.ip,
        detail={k: _shorten(v) for k, v in detail.items()},
    )
    db.add(event)
    return event


def latest(db: Session, limit: int = 50) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)))
