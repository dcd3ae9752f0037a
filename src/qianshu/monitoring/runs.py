"""Runs of the monitoring rules, as jobs, and their flagged households.

A run of a year for a region names, when it is started, the feed versions it reads (the newest
of each feed, ``feeds.current_versions``) and the parameters in force (``rulesets.effective``);
the job (``monitoring.run``) runs the rules on the bounded DuckDB connection over those versions'
Parquet blobs, keeps the flags as a Parquet blob and writes the flagged households. Starting a
run whose feed versions and parameters are those of a run already queued, running or succeeded
gives that run back instead of a second one (``force`` starts another anyway). Re-running the
job (after a crash) replaces the run's households: it never duplicates them.

The hand-off to cases (stable; cases read it, never the tables):

- ``flagged_households(db, run_id, *, division=None)`` → ``list[Flagged]``, ordered by household;
  ``division`` keeps the households within a division code (county, township or village).
- ``Flagged``: ``run_id``, ``household_id``, ``county_code`` (6 digits), ``township_code`` (9),
  ``village_code`` (12), ``proposed_type`` (``rules.UNSTABLE_LIFTED``, ``MARGINAL`` or
  ``SUDDEN_DIFFICULTY``), ``reasons``: a tuple of ``Reason`` (``reason``: a ``rules.RULES`` code,
  ``source_feed``, ``source_key``: the record's household or resident ID, or ``household@date``,
  ``value``: fen or a count, ``feed_version_ids``: the feed versions the source feed was read from).
- ``latest_run(db, year, division)``: the newest succeeded run of a year for a region, or None.

When the job has its result it hands its flagged households to the cases before it writes them:
``case_opening.open_cases_from_flags`` opens a case (channel ``warning``) for every flagged household that
has no open case, with the head of household from the run's household registration and the run's
income threshold, ``CASES_CHUNK`` households a transaction; then the flagged households and the
run's success commit together. A repeat run, or the job retried after a crash, opens none twice.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from qianshu.core import audit, jobs
from qianshu.core.actor import Actor
from qianshu.core.analytics import Limits
from qianshu.core.db import Database
from qianshu.core.errors import InvalidInput, NotFound, QianshuError
from qianshu.core.i18n import Label
from qianshu.core.identifiers import validate_division_code, validate_jurisdiction
from qianshu.core.jobs import Job, JobContext, Progress
from qianshu.core.policy import Resource, allows, division_prefix, require
from qianshu.core.timeutil import utcnow
from qianshu.monitoring import case_opening, case_views, cases, feeds, rulesets
from qianshu.monitoring.models import FeedVersion, FlaggedHousehold, MonitoringRun
from qianshu.monitoring.permissions import case_resource
from qianshu.monitoring.population import FEEDS
from qianshu.monitoring.rules import RuleSet, run_duckdb

log = logging.getLogger(__name__)
JOB_KIND = "monitoring.run"
INSERT_BATCH = 5_000
CASES_CHUNK = 10_000  # flagged households whose cases one transaction opens


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


def households_seen_by(db: Session, actor: Actor, run_id: int, *, division: str | None = None,
                       limit: int = 1000, offset: int = 0) -> list[Flagged]:
    """A run's flagged households as ``actor`` sees them (the portal's run page and the API): the
    resident IDs a reason rests on are masked unless the viewer may identify the residents of the
    household's village (``monitoring.case.identify``: its county, township and village caseworkers,
    as on the cases); the view is in the audit trail. A malformed ``division`` is refused (422)
    before the run is looked up."""
    if division:
        division = validate_jurisdiction(division, "division")
    run = get_run(db, actor, run_id)
    offset = max(offset, 0)
    found = flagged_households(db, run_id, division=division)[offset:offset + max(limit, 1)]
    identified: dict[str, bool] = {}
    shown = []
    for household in found:
        village = household.village_code
        if village not in identified:
            identified[village] = allows(actor, "monitoring.case.identify", case_resource(village))
        if not identified[village]:
            household = replace(household, reasons=tuple(
                replace(r, source_key=case_views.mask_resident_id(r.source_key)) if len(r.source_key) == 18 else r
                for r in household.reasons))
        shown.append(household)
    audit.record(db, actor, "monitoring.run.households_viewed", target_type="monitoring_run", target_id=run.id,
                 division=division or run.division_code, households=len(shown))
    return shown


def latest_run(db: Session, year: int, division: str) -> MonitoringRun | None:
    return db.scalars(select(MonitoringRun).where(MonitoringRun.year == year, MonitoringRun.division_code == division,
                                                  MonitoringRun.status == "succeeded")
                      .order_by(MonitoringRun.id.desc()).limit(1)).first()


# --- starting and reading runs ------------------------------------------------------------------

def start_run(db: Session, actor: Actor, year: int, division: str, *, force: bool = False) -> MonitoringRun:
    """Queue a run of ``year`` for ``division`` over the current feed versions and parameters, or
    give back the run that already has exactly those inputs (unless ``force``)."""
    division = validate_division_code(division, "division")
    require(actor, "monitoring.runs.start", Resource(division=division))
    versions = feeds.current_versions(db, year, division)
    missing = [feed for feed in FEEDS if not versions[feed]]
    if missing:
        raise InvalidInput("{field}: no version of these feeds for {year}: {feeds}", field="year", year=year,
                           feeds=", ".join(missing))
    version_ids = sorted(v.id for vs in versions.values() for v in vs)
    effective = rulesets.effective(db, year, division)
    parameters = effective.rules.parameters()
    if not force:
        for earlier in db.scalars(select(MonitoringRun).where(
                MonitoringRun.year == year, MonitoringRun.division_code == division,
                MonitoringRun.status.in_(("queued", "running", "succeeded"))).order_by(MonitoringRun.id.desc())):
            if sorted(earlier.feed_version_ids) == version_ids and earlier.parameters == parameters:
                return earlier
    run = MonitoringRun(year=year, division_code=division, feed_version_ids=version_ids, parameters=parameters,
                        parameter_ids=list(effective.row_ids), created_by=actor.user_id)
    db.add(run)
    db.flush()
    job = jobs.enqueue(db, JOB_KIND, {"run_id": run.id}, org_id=actor.org_id, created_by=actor.user_id)
    run.job_id = job.id
    audit.record(db, actor, "monitoring.run_started", target_type="monitoring_run", target_id=run.id,
                 year=year, division=division, feed_versions=version_ids)
    return run


def get_run(db: Session, actor: Actor, run_id: int) -> MonitoringRun:
    run = db.get(MonitoringRun, run_id)
    if run is None:
        raise NotFound("No such monitoring run.")
    require(actor, "monitoring.runs.read", Resource(division=run.division_code))
    return run


def list_runs(db: Session, actor: Actor, *, limit: int = 50) -> list[MonitoringRun]:
    require(actor, "monitoring.runs.read", Resource(division=actor.jurisdiction or rulesets.PROVINCE))
    rows = db.scalars(select(MonitoringRun).order_by(MonitoringRun.id.desc()).limit(limit * 4)).all()
    from qianshu.core.policy import within

    return [r for r in rows if actor.jurisdiction is None or within(actor.jurisdiction, r.division_code)
            or within(r.division_code, actor.jurisdiction)][:limit]


def job_of(db: Session, run: MonitoringRun) -> Job | None:
    return db.get(Job, run.job_id) if run.job_id is not None else None


# --- the job ------------------------------------------------------------------------------------

def run_monitoring_job(context: JobContext, job_id: int, progress: Progress) -> None:
    """``monitoring.run``: the payload names the run; its feed versions and parameters are the run's."""
    database, store = context.database, context.blobs
    with database.unit_of_work() as db:
        job = db.get_one(Job, job_id)
        run = db.get(MonitoringRun, int(job.payload["run_id"]))
        if run is None or run.job_id != job_id or run.status == "succeeded":
            return
        run.status, run.error = "running", ""
        run_id, year, division = run.id, run.year, run.division_code
        rules = RuleSet.from_parameters(year, division, run.parameters)
        versions = list(db.scalars(select(FeedVersion).where(FeedVersion.id.in_(run.feed_version_ids))))
    try:
        files: dict[str, list[Path]] = {feed: [] for feed in FEEDS}
        ids: dict[str, list[int]] = {feed: [] for feed in FEEDS}
        for version in sorted(versions, key=lambda v: v.id):
            files[version.feed].append(store.path(version.rows_digest))
            ids[version.feed].append(version.id)
        for feed, paths in files.items():
            if not paths or not all(p.exists() for p in paths):
                raise InvalidInput("The stored rows of the feed {feed} are missing.", field="feed",
                                   feed=Label("monitoring feed", feed))
        progress(0.1, "rules")
        with tempfile.TemporaryDirectory(dir=_work_dir(context)) as work:
            result = run_duckdb(files, rules, Limits.from_settings(context.settings), temp_directory=Path(work))
            progress(0.6, "result")
            out = Path(work) / "flags.parquet"
            pq.write_table(result.flags, out, compression="zstd")
            digest, _ = store.put_file(out)
        progress(0.7, "households")
        registration = _registration(files["household_registration"], result.households)
        _save(database, run_id, job_id, result.flags, result.households, digest, ids, registration)
        progress(1.0, "done")
    except QianshuError as exc:
        _fail(database, run_id, exc.bilingual())
        raise
    except Exception as exc:
        log.exception("monitoring run %s failed", run_id)
        _fail(database, run_id, "internal error")
        raise QianshuError("The monitoring run failed because of an internal error; it has been logged.",
                           code="run_failed") from exc


def _work_dir(context: JobContext) -> Path:
    folder = context.settings.work_dir / "monitoring"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _fail(database: Database, run_id: int, error: str) -> None:
    with database.unit_of_work() as db:
        run = db.get(MonitoringRun, run_id)
        if run is not None:
            run.status, run.error, run.finished_at = "failed", error[:2000], utcnow()


def _registration(paths: list[Path], households: pa.Table) -> pa.Table:
    """The members of the flagged households in the household registration the run read (for the
    cases: the head's name and resident ID, the household's size)."""
    columns = ["household_id", "resident_id", "name", "relation"]
    wanted = households.column("household_id")
    parts = []
    for path in paths:
        table = pq.read_table(path, columns=columns)
        parts.append(table.filter(pc.is_in(table.column("household_id"), value_set=wanted)))
    return pa.concat_tables(parts) if parts else pa.table({c: pa.array([], pa.string()) for c in columns})


def _save(database: Database, run_id: int, job_id: int, flags: pa.Table, households: pa.Table, digest: str,
          ids: dict[str, list[int]], registration: pa.Table | None = None) -> None:
    """The run's result: first its cases, ``CASES_CHUNK`` households a transaction (a province's
    run opens hundreds of thousands: one transaction would hold the database's writer, or the
    households' rows, for minutes), then, in one transaction, its flagged households and its
    success. A chunk finds the cases a crashed attempt opened and skips them, so a retried job
    opens no case twice; a run is not ``succeeded`` before all its cases are open."""
    by_household: dict[str, list[dict[str, Any]]] = {}
    for flag in flags.to_pylist():
        by_household.setdefault(flag["household_id"], []).append({
            "reason": flag["reason"], "source_feed": flag["source_feed"], "source_key": flag["source_key"],
            "value": int(flag["value"]), "feed_version_ids": ids.get(flag["source_feed"], [])})
    rows = [{"run_id": run_id, "household_id": h["household_id"], "county_code": h["division_code"][:6],
             "township_code": h["division_code"][:9], "village_code": h["division_code"],
             "proposed_type": h["proposed_type"], "reasons": by_household.get(h["household_id"], [])}
            for h in households.to_pylist()]
    # The hand-off: a case for every flagged household without an open one (docs/monitoring.md),
    # from the rows as flagged_households(db, run_id) will read them.
    flagged = [Flagged(run_id=run_id, household_id=r["household_id"], county_code=r["county_code"],
                       township_code=r["township_code"], village_code=r["village_code"],
                       proposed_type=r["proposed_type"], reasons=tuple(_reason(x) for x in r["reasons"]))
               for r in sorted(rows, key=lambda r: r["household_id"])]
    handed = case_opening.flags_from_flagged(flagged, registration)
    for start in range(0, max(len(handed), 1), CASES_CHUNK):
        with database.unit_of_work() as db:
            run = db.get(MonitoringRun, run_id)
            if run is None or run.job_id != job_id:
                return
            threshold = int(run.parameters.get("income_threshold_fen") or cases.DEFAULT_THRESHOLD_FEN)
            case_opening.open_cases_from_flags(db, handed[start:start + CASES_CHUNK], f"run {run_id}",
                                        income_threshold_fen=threshold)
    with database.unit_of_work() as db:
        run = db.get(MonitoringRun, run_id)
        if run is None or run.job_id != job_id:
            return
        db.execute(delete(FlaggedHousehold).where(FlaggedHousehold.run_id == run_id))  # a re-run replaces
        for start in range(0, len(rows), INSERT_BATCH):
            db.execute(insert(cast(Table, FlaggedHousehold.__table__)), rows[start:start + INSERT_BATCH])
        run.status, run.result_digest, run.finished_at = "succeeded", digest, utcnow()
        run.households_flagged, run.flags = len(rows), flags.num_rows
        run.reasons = dict(Counter(flags.column("reason").to_pylist()))
