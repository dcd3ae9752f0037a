"""Tables of monitoring.

Cases (防止返贫动态监测的监测对象认定与帮扶): one row per household's time in monitoring, with its
append-only events (every step, every rejection with its reason, every visit's files) and its
assistance measures. A household can re-enter monitoring: a new case, while the old one stays.
At most one case of a household is open at a time (``open_household`` is the household's id
while the case is open and NULL once closed: a unique column both databases treat alike).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.core.db import Base
from qianshu.core.timeutil import utcnow

# --- cases ---------------------------------------------------------------------------------------

class Case(Base):
    __tablename__ = "monitoring_cases"
    __table_args__ = (Index("ix_monitoring_cases_division", "division_code"),
                      Index("ix_monitoring_cases_stage_due", "status", "stage_due_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[str] = mapped_column(String(40), index=True)
    open_household: Mapped[str | None] = mapped_column(String(40), unique=True)
    division_code: Mapped[str] = mapped_column(String(12))  # the household's village (12 digits)
    channel: Mapped[str] = mapped_column(String(16))  # warning | self_report | cadre_visit | linked
    stage: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | closed
    outcome: Mapped[str] = mapped_column(String(16), default="")  # rejected | eliminated
    proposed_type: Mapped[str] = mapped_column(String(24), default="")
    household_type: Mapped[str] = mapped_column(String(24), default="")  # set by the county's approval
    risk_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    traces: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    head_name: Mapped[str] = mapped_column(String(60), default="")
    head_resident_id: Mapped[str] = mapped_column(String(18), default="")
    members: Mapped[int] = mapped_column(default=0)
    able_to_work: Mapped[int | None]  # members able to work, as the visit found
    income_threshold_fen: Mapped[int] = mapped_column(BigInteger, default=780_000)
    run_ref: Mapped[str] = mapped_column(String(80), default="")
    notice_started_on: Mapped[date | None]
    stage_due_at: Mapped[datetime | None]
    overdue_told: Mapped[str] = mapped_column(String(32), default="")  # the stage whose lateness was told
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)


class CaseEvent(Base):
    """One step of a case (append-only: never updated, never deleted)."""

    __tablename__ = "monitoring_case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("monitoring_cases.id", ondelete="RESTRICT"), index=True)
    step: Mapped[str] = mapped_column(String(32))
    stage_before: Mapped[str] = mapped_column(String(32), default="")
    stage_after: Mapped[str] = mapped_column(String(32), default="")
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Files in the blob store: [{"digest", "name", "kind": photo | authorisation | screening}]
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Measure(Base):
    """An assistance measure (帮扶措施) of a monitored household."""

    __tablename__ = "monitoring_measures"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("monitoring_cases.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    department: Mapped[str] = mapped_column(String(80))
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
