"""Runs of the monitoring rules, as jobs, and their flagged households.

The hand-off to cases (stable; cases read it, never the tables):

- ``flagged_households(db, run_id, *, division=None)`` → ``list[Flagged]``, ordered by household;
  ``division`` keeps the households within a division code (county, township or village).
- ``Flagged``: ``run_id``, ``household_id``, ``county_code`` (6 digits), ``township_code`` (9),
  ``village_code`` (12), ``proposed_type`` (``rules.UNSTABLE_LIFTED``, ``MARGINAL`` or
  ``SUDDEN_DIFFICULTY``), ``reasons``: a tuple of ``Reason`` (``reason``: a ``rules.RULES`` code,
  ``source_feed``, ``source_key``: the record's household or resident ID, or ``household@date``,
  ``value``: fen or a count, ``feed_version_ids``: the feed versions the source feed was read from).
- ``latest_run(db, year, division)``: the newest succeeded run of a year for a region, or None.
- ``RunSucceeded`` event (``monitoring.run_succeeded``: ``run_id``, ``year``, ``division_code``),
  published when a run's households are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.policy import division_prefix
from qianshu.monitoring.models import FlaggedHousehold, MonitoringRun


@dataclass(frozen=True)
class Reason:
    reason: str
    source_feed: str
    source_key: str
    value: int
    feed_version_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Flagged:
    run_id: int
    household_id: str
    county_code: str
    township_code: str
    village_code: str
    proposed_type: str
    reasons: tuple[Reason, ...]


def _reason(raw: dict[str, Any]) -> Reason:
    return Reason(reason=str(raw["reason"]), source_feed=str(raw["source_feed"]), source_key=str(raw["source_key"]),
                  value=int(raw["value"]), feed_version_ids=tuple(int(i) for i in raw.get("feed_version_ids", ())))


def flagged_households(db: Session, run_id: int, *, division: str | None = None) -> list[Flagged]:
    """The households a run flagged (none while it has not succeeded), ordered by household ID."""
    query = select(FlaggedHousehold).where(FlaggedHousehold.run_id == run_id)
    if division:
        query = query.where(FlaggedHousehold.village_code.startswith(division_prefix(division) or division))
    rows = db.scalars(query.order_by(FlaggedHousehold.household_id))
    return [Flagged(run_id=r.run_id, household_id=r.household_id, county_code=r.county_code,
                    township_code=r.township_code, village_code=r.village_code, proposed_type=r.proposed_type,
                    reasons=tuple(_reason(x) for x in r.reasons)) for r in rows]


def latest_run(db: Session, year: int, division: str) -> MonitoringRun | None:
    return db.scalars(select(MonitoringRun).where(MonitoringRun.year == year, MonitoringRun.division_code == division,
                                                  MonitoringRun.status == "succeeded")
                      .order_by(MonitoringRun.id.desc()).limit(1)).first()
