"""The hand-off from runs to cases: a run over uploaded feeds opens a case for every flagged
household; a repeat run (forced, or the job retried after a crash) opens none twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core import jobs
from qianshu.core.actor import Actor
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.monitoring import rulesets, runs
from qianshu.monitoring.models import Case, MonitoringRun
from qianshu.monitoring.population import FEEDS, generate
from tests.factories import Factories
from tests.monitoring.test_feeds import _store

COUNTY = "520402"
YEAR = 2025


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("feeds")
    generate(out, scope=[COUNTY], scale=0.02, seed=11, year=YEAR)
    return out


def _run_jobs(database: Database, settings: Settings) -> None:
    jobs.run_pending(jobs.JobContext.build(database, settings), {"monitoring.run": runs.run_monitoring_job})


def test_a_run_opens_cases_and_a_repeat_run_does_not_duplicate_them(
        db: Session, database: Database, settings: Settings, make: Factories, generated: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs, "CASES_CHUNK", 7)  # the cases open in several transactions
    bureau = make.org(org_type="government", name="贵州省大数据发展管理局")
    admin: Actor = make.actor(make.user(organisation=bureau, org_role="monitoring_admin", jurisdiction="520000"))
    county = make.org(org_type="government", name="安顺市西秀区民政局")
    department: Actor = make.actor(make.user(organisation=county, org_role="member", jurisdiction=COUNTY))
    for feed in FEEDS:
        _store(db, department, settings, generated / f"{feed}.parquet", feed)
    rulesets.set_parameters(db, admin, YEAR, "520000", {"income_threshold_fen": 850_000})
    run = runs.start_run(db, admin, YEAR, COUNTY)
    db.commit()
    _run_jobs(database, settings)
    db.expire_all()
    done = db.get_one(MonitoringRun, run.id)
    assert done.status == "succeeded", done.error
    flagged = runs.flagged_households(db, run.id)
    opened = list(db.scalars(select(Case).order_by(Case.household_id)))
    assert len(opened) == done.households_flagged == len(flagged) > 0
    assert [c.household_id for c in opened] == [f.household_id for f in flagged]
    first, case = flagged[0], opened[0]
    assert (case.channel, case.stage, case.status) == ("warning", "clue", "open")
    assert case.division_code == first.village_code
    assert case.proposed_type == first.proposed_type
    assert set(case.reasons) == {r.reason for r in first.reasons}
    assert [t["source_key"] for t in case.traces] == [r.source_key for r in first.reasons]
    assert case.run_ref == f"run {run.id}"
    assert case.income_threshold_fen == 850_000
    assert all(c.head_name and len(c.head_resident_id) == 18 and c.members >= 1 for c in opened)

    # The same inputs forced into a second run: the same households flagged, no case opened twice.
    again = runs.start_run(db, admin, YEAR, COUNTY, force=True)
    assert again.id != run.id
    db.commit()
    _run_jobs(database, settings)
    db.expire_all()
    assert db.get_one(MonitoringRun, again.id).status == "succeeded"
    assert len(runs.flagged_households(db, again.id)) == len(flagged)
    assert db.scalar(select(func.count()).select_from(Case)) == len(opened)
    assert db.scalar(select(func.count(func.distinct(Case.open_household)))) == len(opened)

    # The job retried after a crash: the households replaced, still no case twice.
    retried = db.get_one(MonitoringRun, again.id)
    retried.status = "running"
    db.commit()
    runs.run_monitoring_job(jobs.JobContext.build(database, settings), retried.job_id or 0, lambda f, s="": None)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Case)) == len(opened)
