"""Two uploads of one feed at once, and two edits of one region's parameters at once: each gets its
own version number, neither is lost (run on SQLite and on PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from qianshu.accounts.service import actor_for
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.monitoring import rulesets
from qianshu.monitoring.feeds import Upload, store_feed
from qianshu.monitoring.models import FeedVersion, RuleParameters
from qianshu.monitoring.population import generate
from tests.factories import Factories

COUNTY = "520402"


@pytest.mark.slow
def test_simultaneous_uploads_and_edits_get_successive_versions(isolated_database: Database, settings: Settings,
                                                                tmp_path: Path) -> None:
    generate(tmp_path, scope=[COUNTY], scale=0.005, seed=1, year=2025)
    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        user = make.user(organisation=make.org(org_type="government"), org_role="monitoring_admin",
                         jurisdiction="520000")
        actor = actor_for(user, via="api", ip=None)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def upload(i: int) -> None:
        try:
            barrier.wait()
            with isolated_database.unit_of_work() as db:
                store_feed(db, actor, open_blob_store(settings), tmp_path / "housing.parquet",
                           Upload(feed="housing", year=2025, division=COUNTY, name=f"h{i}.parquet"))
                rulesets.set_parameters(db, actor, 2025, COUNTY, {"disability_max_grade": 2 + i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with isolated_database.unit_of_work(write=False) as db:
        assert sorted(db.scalars(select(FeedVersion.version))) == [1, 2]
        assert sorted(db.scalars(select(RuleParameters.version))) == [1, 2]
        assert pq.read_table(tmp_path / "housing.parquet").num_rows == db.scalar(
            select(FeedVersion.rows_accepted).where(FeedVersion.version == 2))
