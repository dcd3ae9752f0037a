"""Tables of return-to-poverty monitoring.

Feeds, rule parameters and runs (this block); cases and dashboards add their own blocks below.

- ``monitoring_feed_versions``: every file a department sent, one version per (feed, year,
  division), never changed afterwards. Its good rows are a Parquet blob, its rejected rows a CSV blob.
- ``monitoring_rule_parameters``: the rules' parameters of a year for a region, one row per edit
  (the history); the newest row of a (year, division) is the one in force.
- ``monitoring_runs``: one run of the rules over named feed versions with named parameters.
- ``monitoring_flagged_households``: a run's result, one row per flagged household, the table the
  cases are created from (read it through ``qianshu.monitoring.runs.flagged_households``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
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
