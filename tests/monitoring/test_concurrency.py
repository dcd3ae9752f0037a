"""Two caseworkers update the same case at once, over real HTTP (uvicorn on a loopback port,
real commits): one wins, the other gets a 409 that says why, in its language. Run on SQLite and,
with QIANSHU_TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from qianshu.accounts import service as accounts
from qianshu.accounts.schemas import TokenIn
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.monitoring import cases
from qianshu.web.app import create_app
from tests.factories import Factories
from tests.monitoring.conftest import AUTH, make_world
from tests.web.live import live_server


@pytest.mark.slow
def test_two_caseworkers_updating_one_case_one_wins_the_other_gets_409(isolated_database: Database,
                                                                        tmp_path: Path) -> None:
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False)
    with isolated_database.unit_of_work() as db:
        world = make_world(db, Factories(db))
        tokens = []
        for key in ("village", "county"):
            actor = accounts.actor_for(world.users[key], via="api", ip=None)
            tokens.append(accounts.create_token(db, actor, TokenIn(name="t", scopes=["read", "write"]))[1])
        ids = []
        for round_ in range(3):
            case = world.case(db, f"H{round_}")
            case = cases.advance(db, world.village, case.id, "visit", case.version, {"findings": "x"}, AUTH)
            ids.append((case.id, case.version))
    with live_server(create_app(settings, database=isolated_database)) as url:
        for (case_id, version), lang in zip(ids, ("zh", "en", "zh"), strict=True):
            start = threading.Barrier(2)
            answers: list[Any] = [None, None]

            def update(i: int, case_id: int = case_id, version: int = version, lang: str = lang,
                       start: threading.Barrier = start, answers: list[Any] = answers) -> None:
                with httpx.Client(base_url=url, timeout=60) as client:
                    start.wait()
                    # the village's caseworker cross-checks; the county's records another visit's worth
                    # of a cross-check too (both may): the same step, the same version
                    answers[i] = client.post(
                        f"/api/v1/monitoring/cases/{case_id}/steps/cross_check",
                        headers={"Authorization": f"Bearer {tokens[i]}", "Accept-Language": lang},
                        json={"version": version, "departments": f"民政 {i}", "findings": f"caseworker {i}"})

            threads = [threading.Thread(target=update, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            codes = sorted(a.status_code for a in answers)
            assert codes == [200, 409], [(a.status_code, a.text[:300]) for a in answers]
            lost = next(a for a in answers if a.status_code == 409).json()
            assert lost["code"] == "stale_case"
            assert lost["field"] == "version"
            assert ("刷新" if lang == "zh" else "Reload the case") in lost["detail"]
            with isolated_database.unit_of_work(write=False) as db:
                steps = [e.step for e in cases.events_of(db, case_id)]
                assert steps.count("cross_check") == 1
                assert db.get_one(cases.Case, case_id).version == version + 1
