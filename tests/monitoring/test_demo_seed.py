"""The monitoring demo: Danzhai county seeded through the services, in seconds; the demo path
(the county's caseworker sees this month's alerts with their reasons, the village's only its
village, the province's dashboard shows the county)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from qianshu.accounts.models import User
from qianshu.core.timeutil import SHANGHAI, utcnow
from qianshu.demo import monitoring_seed
from qianshu.demo.registrations import actor_of
from qianshu.monitoring import cases, dashboards
from qianshu.monitoring.models import Case, FeedVersion, MonitoringRun
from qianshu.monitoring.population import FEEDS


@pytest.mark.alone
def test_the_demo_seeds_danzhai_in_seconds(database, settings) -> None:  # type: ignore[no-untyped-def]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    monitoring_seed.seed(database, settings, {})
    seconds = time.perf_counter() - started
    print(f"monitoring demo seeded in {seconds:.1f} s")
    assert seconds < 30
    with database.unit_of_work() as db:
        county = actor_of(db, monitoring_seed.COUNTY_USER)
        village = actor_of(db, monitoring_seed.VILLAGE_USER)
        province = actor_of(db, monitoring_seed.PROVINCE_USER)
        month = utcnow().astimezone(SHANGHAI).strftime("%Y-%m")
        alerts = cases.list_cases(db, county, cases.Filters(month=month, channel="warning"))
        assert len(alerts) > 20
        assert all(c.reasons for c in alerts)
        run = db.scalars(select(MonitoringRun)).one()  # the cases came from a run job over uploaded feeds
        assert run.status == "succeeded"
        assert {c.run_ref for c in alerts} == {f"run {run.id}"}
        assert len(db.scalars(select(FeedVersion)).all()) == len(FEEDS)
        every = db.scalars(select(Case)).all()
        stages = {c.stage for c in every}
        assert {"clue", "visited", "village_noticed", "township_reviewed", "monitored", "elimination_reviewed",
                "closed"} <= stages
        assert {c.outcome for c in every} >= {"eliminated", "rejected"}
        assert any(c.channel == "self_report" for c in every)
        mine = cases.list_cases(db, village)
        assert mine
        assert {c.division_code for c in mine} == {village.jurisdiction}
        board = dashboards.compute(db, province)
        assert [r.key for r in board.series["by_division"]] == ["522600"]
        assert board.totals["eliminated"] == 1
        assert board.totals["assisted"] >= 2
        ready = next(c for c in every if c.stage == "elimination_reviewed")
        closed = cases.advance(db, county, ready.id, "elimination_approve", ready.version, {"decision": "approve"})
        assert (closed.status, closed.outcome) == ("closed", "eliminated")  # the county closes it
        waiting = next(c for c in every if c.stage == "township_reviewed")
        approved = cases.advance(db, county, waiting.id, "county_approve", waiting.version, {
            "decision": "approve", "household_type": "marginal", "risk_types": ["other"]})
        assert approved.stage == "monitored"
        assert db.scalar(select(User.jurisdiction).where(User.email == monitoring_seed.COUNTY_USER)) == "522636"
