"""Tables of government data sharing: the departments' resource catalogue, the requests of other
departments (an approved one is a grant), the files an owner publishes for a resource's feed,
and every access to a grant.

Organisations are referred to by id (accounts' rows are read through its services)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.core.db import Base
from qianshu.core.timeutil import utcnow

# 无条件共享 / 有条件共享 / 不予共享
SHARING_CLASSES = ("unconditional", "conditional", "not_shared")
FIELD_TYPES = ("string", "integer", "decimal", "date", "boolean", "code")
FREQUENCIES = ("once", "realtime", "daily", "weekly", "monthly", "quarterly", "yearly")
ACCESS_TYPES = ("feed", "sandbox")
# pending: waiting for the owner; approved / narrowed: a grant (narrowed: fewer fields or a
# shorter period than asked); rejected (with a reason); granted: an unconditional resource,
# granted on request without review; expired: a grant past its end date (``expires_on``);
# revoked: a grant its owner withdrew (with a reason).
REQUEST_STATUSES = ("pending", "approved", "narrowed", "rejected", "granted", "expired", "revoked")
GRANTED_STATUSES = ("approved", "narrowed", "granted")
ENDED_STATUSES = ("expired", "revoked")
# What a sandbox grant's queries may aggregate (the owner's per-resource sandbox policy).
SANDBOX_AGGREGATES = ("count", "sum", "avg", "min", "max", "median", "stddev")


class SharingResource(Base):
    """A data resource a department publishes in the government catalogue."""

    __tablename__ = "sharing_resources"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    code: Mapped[str] = mapped_column(String(40))  # the department's own code (a feed name)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    # [{"name": "resident_id", "type": "string", "meaning_zh": "...", "meaning_en": "..."}]
    fields: Mapped[list[Any]] = mapped_column(JSON, default=list)
    update_frequency: Mapped[str] = mapped_column(String(16))
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    sharing_class: Mapped[str] = mapped_column(String(16), index=True)
    conditions: Mapped[str] = mapped_column(Text, default="")
    # The owner's sandbox policy for sandbox grants (grants.SandboxRules: k, allowed aggregates,
    # differential privacy); None: the sandbox's defaults.
    sandbox_policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def field_names(self) -> list[str]:
        return [str(f["name"]) for f in self.fields]


class SharingRequest(Base):
    """A department's request for another's resource; approved (or narrowed, or granted at once
    for an unconditional resource) it is a grant of its decided fields for its decided period."""

    __tablename__ = "sharing_requests"
    __table_args__ = (Index("ix_sharing_requests_status_due", "status", "due_on"),
                      Index("ix_sharing_requests_status_expires", "status", "expires_on"))

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("sharing_resources.id", ondelete="RESTRICT"), index=True)
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    requester_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    fields: Mapped[list[Any]] = mapped_column(JSON, default=list)
    period_start: Mapped[date]
    period_end: Mapped[date]
    access_type: Mapped[str] = mapped_column(String(16), default="feed")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    due_on: Mapped[date | None]  # the 10th working day after the request (pending ones only)
    overdue_flagged_at: Mapped[datetime | None]
    granted_fields: Mapped[list[Any]] = mapped_column(JSON, default=list)
    granted_start: Mapped[date | None]
    granted_end: Mapped[date | None]
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[int | None]
    decided_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)
    # A grant's last day of use (Shanghai date): after it the grant is expired at once, and the
    # periodic task closes it. Set when granted: the decision's, or the end of the granted period.
    expires_on: Mapped[date | None]
    ended_at: Mapped[datetime | None]  # expired or revoked
    ended_by: Mapped[int | None]  # the user who revoked it (None: expired)
    end_reason: Mapped[str] = mapped_column(Text, default="")  # why it was revoked
    last_used_at: Mapped[datetime | None]  # the last download or query (written as the use begins)
    epsilon_spent: Mapped[float] = mapped_column(default=0.0)  # of the sandbox policy's privacy budget


class SharingFile(Base):
    """One version of a resource's feed: a CSV file in the blob store, with the date its data is as of."""

    __tablename__ = "sharing_files"
    __table_args__ = (UniqueConstraint("resource_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("sharing_resources.id", ondelete="RESTRICT"), index=True)
    version: Mapped[int]
    as_of: Mapped[date]
    filename: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(default=0)
    uploaded_by: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SharingAccess(Base):
    """Every use of a grant (a download, a sandbox query), for the owner department's access log."""

    __tablename__ = "sharing_accesses"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("sharing_requests.id", ondelete="RESTRICT"), index=True)
    owner_org_id: Mapped[int] = mapped_column(index=True)
    grantee_org_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int | None]
    kind: Mapped[str] = mapped_column(String(16))  # download | query
    file_id: Mapped[int | None]
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


# An appeal: pending until the big-data bureau upholds the owner's decision, grants what was appealed
# or grants part of it. An extension: pending until the owner approves (a new end date) or refuses.
APPEAL_STATUSES = ("pending", "upheld", "granted", "partly_granted")
EXTENSION_STATUSES = ("pending", "approved", "refused")


class SharingAppeal(Base):
    """The requesting department's one appeal against a narrowing or a rejection of its request (of
    all of it, or of some of the fields or of the period left out), decided by the big-data bureau
    (which coordinates sharing between departments): upheld, granted, or granted in part."""

    __tablename__ = "sharing_appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("sharing_requests.id", ondelete="RESTRICT"), unique=True)
    appealed_status: Mapped[str] = mapped_column(String(16))  # narrowed | rejected: what was appealed
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    appealed_by: Mapped[int | None]
    appealed_at: Mapped[datetime] = mapped_column(default=utcnow)
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int | None]
    decided_by_org_id: Mapped[int | None]
    decided_at: Mapped[datetime | None]
    # What was appealed: the fields asked back (beyond those granted) and the period asked for; and
    # what the bureau granted of it. Empty on appeals filed before migration 0038 (the whole request).
    fields: Mapped[list[Any] | None] = mapped_column(JSON)
    period_start: Mapped[date | None]
    period_end: Mapped[date | None]
    granted_fields: Mapped[list[Any] | None] = mapped_column(JSON)
    granted_start: Mapped[date | None]
    granted_end: Mapped[date | None]


class SharingExtension(Base):
    """A grantee's request for a later end date of its grant, asked before the grant ends and
    decided by the owner: approved (with the new end date) or refused (with a reason)."""

    __tablename__ = "sharing_extensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("sharing_requests.id", ondelete="RESTRICT"), index=True)
    ends_on: Mapped[date]  # the grant's end date when it was asked
    asked_until: Mapped[date]
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    asked_by: Mapped[int | None]
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    granted_until: Mapped[date | None]
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int | None]
    decided_at: Mapped[datetime | None]
