"""Tables of return-to-poverty monitoring.

Feeds, rule parameters and runs (the first block); cases (the second block).

- ``monitoring_feed_versions``: every file a department sent, one version per (feed, year,
  division), never changed afterwards. Its good rows are a Parquet blob, its rejected rows a CSV blob.
- ``monitoring_rule_parameters``: the rules' parameters of a year for a region, one row per edit
  (the history); the newest row of a (year, division) is the one in force.
- ``monitoring_runs``: one run of the rules over named feed versions with named parameters.
- ``monitoring_flagged_households``: a run's result, one row per flagged household, the table the
  cases are created from (read it through ``qianshu.monitoring.runs.flagged_households``).

Cases (防止返贫动态监测的监测对象认定与帮扶): one row per household's time in monitoring, with its
append-only events (every step, every rejection with its reason, every visit's files) and its
assistance measures. A household can re-enter monitoring: a new case, while the old one stays.
At most one case of a household is open at a time (``open_household`` is the household's id
while the case is open and NULL once closed: a unique column both databases treat alike).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.core.db import Base
from qianshu.core.timeutil import utcnow

# --- feeds, rule parameters, runs (monitoring/feeds.py, rulesets.py, runs.py) -------------------

RUN_STATUSES = ("queued", "running", "succeeded", "failed")


class FeedVersion(Base):
    """One accepted upload of a department's feed for a year and a division (a county, or 520000)."""

    __tablename__ = "monitoring_feed_versions"
    __table_args__ = (UniqueConstraint("feed", "year", "division_code", "version"),
                      Index("ix_monitoring_feed_versions_year_feed", "year", "feed"))

    id: Mapped[int] = mapped_column(primary_key=True)
    feed: Mapped[str] = mapped_column(String(40))  # population.FEEDS
    department: Mapped[str] = mapped_column(String(60))
    year: Mapped[int]
    division_code: Mapped[str] = mapped_column(String(12))
    version: Mapped[int]  # 1, 2, ... per (feed, year, division)
    source_name: Mapped[str] = mapped_column(String(255), default="")
    source_format: Mapped[str] = mapped_column(String(16))  # csv | xlsx | parquet
    source_encoding: Mapped[str] = mapped_column(String(16), default="")  # utf-8 | gb18030 for CSV
    source_digest: Mapped[str] = mapped_column(String(64))  # the file as sent
    rows_digest: Mapped[str] = mapped_column(String(64))  # the good rows, Parquet
    rejects_digest: Mapped[str | None] = mapped_column(String(64))  # the rejected rows, CSV (None: none)
    rows_total: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    # Duplicates within the file and records conflicting with other departments' feeds.
    findings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Through data sharing (shared_feeds.py): the grant it came through and the owner's version of
    # the resource's feed; None for an uploaded file.
    sharing_request_id: Mapped[int | None] = mapped_column(ForeignKey("sharing_requests.id", ondelete="RESTRICT"))
    sharing_file_version: Mapped[int | None]


class FeedUpload(Base):
    """A feed file received and waiting for (or done with) its validation job: the file is in the
    blob store, the job ``monitoring.feed_upload`` validates it and records the version (or the
    whole-file refusal, as a message id and parameters to show in the reader's language)."""

    __tablename__ = "monitoring_feed_uploads"
    __table_args__ = (UniqueConstraint("sharing_request_id", "sharing_file_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int | None] = mapped_column(index=True)
    feed: Mapped[str] = mapped_column(String(40))
    year: Mapped[int]
    division_code: Mapped[str] = mapped_column(String(12))
    source_name: Mapped[str] = mapped_column(String(255), default="")
    encoding: Mapped[str] = mapped_column(String(16), default="auto")
    source_digest: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | stored | refused
    version_id: Mapped[int | None] = mapped_column(ForeignKey("monitoring_feed_versions.id", ondelete="SET NULL"))
    # A refusal: {"message": ..., "params": {...}, "code": ..., "field": ...} (QianshuError.bilingual form)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # Delivered through data sharing (shared_feeds.py): the grant, and the owner's feed version
    # (``sharing_files``) it carries; unique, so one version arrives once per grant.
    sharing_request_id: Mapped[int | None] = mapped_column(ForeignKey("sharing_requests.id", ondelete="RESTRICT"))
    sharing_file_id: Mapped[int | None] = mapped_column(ForeignKey("sharing_files.id", ondelete="RESTRICT"))
    sharing_file_version: Mapped[int | None]


class SharedFeed(Base):
    """A grant received as a monitoring feed: the requesting organisation's declaration that the
    feed versions its grant (``sharing_requests``, feed access) delivers are the feed ``feed`` of
    ``division_code``. Each new version the owner publishes arrives as a feed upload (shared_feeds.py).
    A withdrawn declaration stays, with who withdrew it, when and why; nothing arrives through it any
    more, and the versions that came before it stay. A grant has at most one declaration in force
    (the partial unique index); it may be declared again once withdrawn."""

    __tablename__ = "monitoring_shared_feeds"
    __table_args__ = (Index("uq_monitoring_shared_feeds_active_request", "request_id", unique=True,
                            postgresql_where=text("withdrawn_at IS NULL"),
                            sqlite_where=text("withdrawn_at IS NULL")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("sharing_requests.id", ondelete="RESTRICT"))
    feed: Mapped[str] = mapped_column(String(40))  # population.FEEDS
    division_code: Mapped[str] = mapped_column(String(12))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    # the user the deliveries are received as (their permission to send the division's feed)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    withdrawn_by_label: Mapped[str] = mapped_column(String(200), default="", server_default="")
    withdraw_reason: Mapped[str] = mapped_column(Text, default="", server_default="")


class RuleParameters(Base):
    """The rules' parameters of a year for a region, as one edit set them (``rules.PARAMETERS``).
    A county's row overrides its prefecture's and the province's, field by field."""

    __tablename__ = "monitoring_rule_parameters"
    __table_args__ = (UniqueConstraint("year", "division_code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int]
    division_code: Mapped[str] = mapped_column(String(12))
    version: Mapped[int]
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    set_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


class MonitoringRun(Base):
    """One run of the rules for a year and a region, over named feed versions with named parameters
    (so that it can be reproduced)."""

    __tablename__ = "monitoring_runs"
    __table_args__ = (Index("ix_monitoring_runs_year_division", "year", "division_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int]
    division_code: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    job_id: Mapped[int | None] = mapped_column(index=True)
    feed_version_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the effective parameters
    parameter_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # the rows they came from
    result_digest: Mapped[str | None] = mapped_column(String(64))  # the flags, Parquet
    households_flagged: Mapped[int] = mapped_column(default=0)
    flags: Mapped[int] = mapped_column(default=0)
    reasons: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # reason → flags
    error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class FlaggedHousehold(Base):
    """One household a run flagged: where it is, why (each reason with the record it rests on) and
    the monitored type proposed. Written once by the run; never changed.

    ``reasons`` is a list of ``{"reason", "source_feed", "source_key", "value", "feed_version_ids"}``
    (``rules.RULES`` codes; ``source_key`` the household or resident ID, or ``household@date``
    for a disaster; ``value`` fen or a count).
    """

    __tablename__ = "monitoring_flagged_households"
    __table_args__ = (UniqueConstraint("run_id", "household_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("monitoring_runs.id", ondelete="CASCADE"))
    household_id: Mapped[str] = mapped_column(String(20), index=True)
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    township_code: Mapped[str] = mapped_column(String(9))
    village_code: Mapped[str] = mapped_column(String(12))
    proposed_type: Mapped[str] = mapped_column(String(24))  # rules.UNSTABLE_LIFTED | MARGINAL | SUDDEN_DIFFICULTY
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


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
