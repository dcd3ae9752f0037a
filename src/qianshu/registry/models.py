"""Tables of the registry capability: registrations, their data, findings, reviews, certificates.

``registrations``              one registration (initial, change, transfer, renewal, cancellation)
``registration_files``         the original files (blob SHA-256, name, detected encoding, size)
``registration_columns``       the profile of each column of the normalised Parquet
``registration_pii``           personal-information findings per column (masked example only)
``registration_quality``       the six GB/T 36344 indicators with score, source and reason
``registration_history``       every step of the workflow (who, when, from → to, why)
``registration_objections``    objections filed during public notice (公示)
``registration_reports``       compliance / quality / appraisal reports of service providers
``registration_certificates``  the signed certificate, its log leaf and its revocation

Status (see docs/registry.md for the diagram)::

    draft → processing → ready ──submit──▶ submitted ──take──▶ under_review
                       ↘ failed                         ├─approve─▶ public_notice ──issue──▶ issued
                                                        ├─return──▶ returned ──resubmit──▶ submitted
                                                        └─reject──▶ rejected
    public_notice ──objection upheld──▶ rejected
    issued ──revoke──▶ revoked ;  issued ──later change/transfer/cancellation issued──▶
        superseded / transferred / cancelled
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qianshu.core.db import Base
from qianshu.core.timeutil import utcnow

STATUSES = (
    "draft", "processing", "failed", "ready", "submitted", "under_review", "returned",
    "public_notice", "issued", "rejected", "revoked", "superseded", "transferred", "cancelled",
    "withdrawn",
)
# States in which the registration (and its public facts) may be shown to anyone.
PUBLIC_STATUSES = ("public_notice", "issued", "revoked", "superseded", "transferred", "cancelled")
# States in which the merchant may still edit the declaration.
EDITABLE_STATUSES = ("draft", "ready", "returned", "failed")
REG_TYPES = ("initial", "change", "transfer", "renewal", "cancellation")
RIGHTS = ("holding", "processing_use", "operation")
CLASSIFICATIONS = ("general", "important", "core")
PERSONAL_INFO = ("none", "personal", "sensitive")
SOURCES = ("own_collection", "authorised", "public_data", "purchased")
UPDATE_FREQUENCIES = ("once", "realtime", "daily", "weekly", "monthly", "quarterly", "yearly")
QUALITY_INDICATORS = ("normativity", "completeness", "accuracy", "consistency", "timeliness", "accessibility")
REPORT_KINDS = ("compliance", "quality", "appraisal")
OBJECTION_STATUSES = ("open", "upheld", "dismissed")


class Registration(Base):
    __tablename__ = "registrations"
    __table_args__ = (
        Index("ix_registrations_holder_status", "holder_org_id", "status"),
        Index("ix_registrations_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)  # QS-DR-YYYY-NNNNNN, when issued
    holder_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    reg_type: Mapped[str] = mapped_column(String(16), default="initial")
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id", ondelete="SET NULL"),
                                                    index=True)
    # Transfer: the organisation that receives the rights, and when each side confirmed.
    transferee_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    transferor_confirmed_at: Mapped[datetime | None]
    transferee_confirmed_at: Mapped[datetime | None]

    # Declaration
    title_zh: Mapped[str] = mapped_column(String(200), default="")
    title_en: Mapped[str] = mapped_column(String(200), default="")
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    industry_code: Mapped[str] = mapped_column(String(3), default="")  # GB/T 4754: "G54"
    division_code: Mapped[str] = mapped_column(String(6), default="")
    time_coverage_start: Mapped[date | None]
    time_coverage_end: Mapped[date | None]
    update_frequency: Mapped[str] = mapped_column(String(16), default="")
    source: Mapped[str] = mapped_column(String(20), default="")
    lawful_basis: Mapped[str] = mapped_column(Text, default="")
    contract_sha256: Mapped[str | None] = mapped_column(String(64))  # purchased data: the contract
    contract_name: Mapped[str] = mapped_column(String(255), default="")
    rights: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Declared quality (accessibility) and anything the data cannot tell.
    declared_quality: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    # Classification: the pipeline suggests, the reviewer confirms.
    suggested_classification: Mapped[str] = mapped_column(String(16), default="general")
    suggested_personal_info: Mapped[str] = mapped_column(String(16), default="none")
    classification: Mapped[str | None] = mapped_column(String(16))
    personal_info: Mapped[str | None] = mapped_column(String(16))

    # Data (set by the pipeline)
    parquet_sha256: Mapped[str | None] = mapped_column(String(64))
    parquet_size: Mapped[int | None] = mapped_column(BigInteger)
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    column_count: Mapped[int | None]
    job_id: Mapped[int | None] = mapped_column(index=True)
    pipeline_error_code: Mapped[str] = mapped_column(String(60), default="")
    pipeline_error: Mapped[str] = mapped_column(Text, default="")
    data_from_id: Mapped[int | None]  # transfer/renewal/cancellation reuse the previous data
    # Dataset-level measurements behind the quality scores (nulls, duplicates, codes, dates).
    measurements: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    # Workflow
    review_reason: Mapped[str] = mapped_column(Text, default="")
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None]
    notice_starts_at: Mapped[datetime | None]
    notice_ends_at: Mapped[datetime | None]
    issued_at: Mapped[datetime | None]
    valid_until: Mapped[date | None]
    revoked_at: Mapped[datetime | None]
    # Optimistic concurrency: two reviewers deciding at once — the second gets a 409.
    version: Mapped[int] = mapped_column(default=1)

    files: Mapped[list[RegistrationFile]] = relationship(
        back_populates="registration", order_by="RegistrationFile.position", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative idiom

    @property
    def title(self) -> str:
        return self.title_zh or self.title_en


class RegistrationFile(Base):
    __tablename__ = "registration_files"
    __table_args__ = (UniqueConstraint("registration_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    file_format: Mapped[str] = mapped_column(String(16), default="")  # csv | xlsx | xls | ods | parquet | jsonl
    detected_encoding: Mapped[str] = mapped_column(String(32), default="")
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    # Spreadsheets: what the holder chose (header row, sheets; spreadsheets.IngestOptions) and what
    # the last run detected and did (header row, joined headers, dropped totals; spreadsheets.Layout).
    ingest_options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ingest_layout: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    registration: Mapped[Registration] = relationship(back_populates="files")


class ColumnProfile(Base):
    __tablename__ = "registration_columns"
    __table_args__ = (UniqueConstraint("registration_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(255))
    source_name: Mapped[str] = mapped_column(String(255), default="")  # header as written (may be empty/dup)
    inferred_type: Mapped[str] = mapped_column(String(32))  # integer | decimal | date | timestamp | boolean | text
    null_count: Mapped[int] = mapped_column(BigInteger, default=0)
    null_rate: Mapped[float] = mapped_column(default=0.0)
    distinct_count: Mapped[int] = mapped_column(BigInteger, default=0)
    distinct_is_estimate: Mapped[bool] = mapped_column(default=True)
    min_value: Mapped[str | None] = mapped_column(String(200))
    max_value: Mapped[str | None] = mapped_column(String(200))
    mean: Mapped[float | None]
    top_values: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [[value, count], ...] (masked if PII)
    min_length: Mapped[int | None]
    max_length: Mapped[int | None]
    mean_length: Mapped[float | None]
    histogram: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [[lower, upper, count], ...]
    type_conformance: Mapped[float] = mapped_column(default=1.0)  # share of non-null values of the type


class PiiFinding(Base):
    __tablename__ = "registration_pii"
    __table_args__ = (UniqueConstraint("registration_id", "column_name", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    column_name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))  # resident_id | mobile | landline | bank_card | email | ...
    sensitive: Mapped[bool] = mapped_column(default=False)
    share: Mapped[float]  # share of the scanned non-null values that match
    scanned: Mapped[int] = mapped_column(BigInteger)  # values scanned (a bounded sample; see pii.py)
    matched: Mapped[int] = mapped_column(BigInteger)
    masked_example: Mapped[str] = mapped_column(String(100), default="")


class QualityScore(Base):
    __tablename__ = "registration_quality"
    __table_args__ = (UniqueConstraint("registration_id", "indicator"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    indicator: Mapped[str] = mapped_column(String(20))
    score: Mapped[int]  # 0-100
    basis: Mapped[str] = mapped_column(String(16))  # measured | declared | reviewer
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class HistoryEntry(Base):
    __tablename__ = "registration_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_org_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str] = mapped_column(String(20), default="")
    to_status: Mapped[str] = mapped_column(String(20), default="")
    reason: Mapped[str] = mapped_column(Text, default="")


class Objection(Base):
    __tablename__ = "registration_objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    filed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filed_by_org_id: Mapped[int | None]
    grounds: Mapped[str] = mapped_column(Text)
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    evidence_name: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(12), default="open")
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str] = mapped_column(Text, default="")


class ProviderReport(Base):
    __tablename__ = "registration_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    provider_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    conclusion: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[int | None]  # a quality report's overall score, 0-100, taken as the reviewer's score
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    document_name: Mapped[str] = mapped_column(String(255), default="")
    # The report's facts in canonical JSON, signed with the exchange key on the provider's behalf.
    statement: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    signature: Mapped[str] = mapped_column(String(200), default="")
    key_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Certificate(Base):
    __tablename__ = "registration_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="RESTRICT"),
                                                 unique=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)  # the signed facts
    signature: Mapped[str] = mapped_column(String(200))  # base64 Ed25519 over RFC 8785 of ``document``
    algorithm: Mapped[str] = mapped_column(String(20), default="Ed25519")
    key_id: Mapped[str] = mapped_column(String(64))
    log_index: Mapped[int | None] = mapped_column(BigInteger)  # leaf of "registration.issued"
    leaf_hash: Mapped[str] = mapped_column(String(64), default="")
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    revocation_reason: Mapped[str] = mapped_column(Text, default="")
    revocation_log_index: Mapped[int | None] = mapped_column(BigInteger)
