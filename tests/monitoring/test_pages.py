"""The portal: upload a feed (a refused one shows its error), set a county's parameters, start a
run, watch it finish and see its households."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from qianshu.core import jobs
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.monitoring import feed_uploads, rulesets, runs
from qianshu.monitoring.population import FEEDS, generate
from tests.factories import Factories
from tests.registry.helpers import sign_in

COUNTY = "520402"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("feeds")
    generate(out, scope=[COUNTY], scale=0.01, seed=3, year=2025)
    return out


def test_feeds_rules_and_runs_in_the_portal(client, db: Session, database: Database, settings: Settings,  # type: ignore[no-untyped-def]
                                            make: Factories, generated: Path) -> None:
    org = make.org(org_type="government", name="贵州省大数据发展管理局")
    admin = make.user(organisation=org, org_role="monitoring_admin", jurisdiction="520000")
    db.commit()
    csrf = sign_in(client, admin)
    page = client.get("/monitoring/feeds")
    assert page.status_code == 200
    assert 'id="upload"' in page.text
    for feed in FEEDS:
        with (generated / f"{feed}.parquet").open("rb") as fh:
            r = client.post(f"/monitoring/feeds?csrf_token={csrf}", data={"feed": feed, "year": "2025",
                                                                          "division": COUNTY},
                            files={"file": (f"{feed}.parquet", fh, "application/octet-stream")},
                            follow_redirects=False)
        assert r.status_code == 303, r.text[:2000]
        assert r.headers["location"].startswith("/monitoring/feeds/uploads/")
    # the last file waits for its check (the request did not validate it): the page says so and reloads
    waiting = client.get(r.headers["location"])
    assert "排队中" in waiting.text
    assert 'http-equiv="refresh"' in waiting.text
    context = jobs.JobContext.build(database, settings)
    handlers = {feed_uploads.JOB_KIND: feed_uploads.validate_upload_job}
    assert jobs.run_pending(context, handlers) == len(FEEDS)
    stored = client.get(r.headers["location"])
    assert 'http-equiv="refresh"' not in stored.text
    assert "已入库" in stored.text
    version = client.get(re.search(r'href="(/monitoring/feeds/\d+)"', stored.text).group(1))  # type: ignore[union-attr]
    assert "保留行数" in version.text
    assert 'id="findings"' in version.text
    assert "rejected_by_reason" not in version.text  # the findings in words, not the stored JSON
    assert "最近上传" in client.get("/monitoring/feeds").text
    # a file refused whole: accepted by the request, refused by its check, in the reader's language
    bad = client.post(f"/monitoring/feeds?csrf_token={csrf}", data={"feed": "emergency", "year": "2025",
                                                                    "division": COUNTY},
                      files={"file": ("灾情.csv", "household_id,事件\n1,2\n".encode("gb18030"), "text/csv")},
                      follow_redirects=False)
    assert bad.status_code == 303
    assert jobs.run_pending(context, handlers) == 1
    refused = client.get(bad.headers["location"])
    assert refused.status_code == 422
    assert "缺少列" in refused.text
    assert "已拒收" in refused.text
    client.get(f"/lang/en?next={bad.headers['location']}")
    refused_en = client.get(bad.headers["location"])
    assert "columns missing" in refused_en.text
    assert "refused" in refused_en.text
    client.get("/lang/zh?next=/")
    # the target is checked at once, before anything is stored
    wrong = client.post(f"/monitoring/feeds?csrf_token={csrf}", data={"feed": "nonsense", "year": "2025",
                                                                      "division": COUNTY},
                        files={"file": ("x.csv", b"a\n1\n", "text/csv")})
    assert wrong.status_code == 422
    rules = client.get(f"/monitoring/rules?year=2025&division={COUNTY}")
    assert 'id="set-rules"' in rules.text
    r = client.post("/monitoring/rules", data={"csrf_token": csrf, "year": "2025", "division": COUNTY,
                                               "income_threshold_fen": "9000", "sharp_drop_ratio": "40"},
                    follow_redirects=False)
    assert r.status_code == 303
    found = rulesets.effective(db, 2025, COUNTY)
    assert found.rules.income_threshold_fen == 900_000
    assert found.rules.sharp_drop_ratio == pytest.approx(0.4)
    refused = client.post("/monitoring/rules", data={"csrf_token": csrf, "year": "2025", "division": COUNTY,
                                                     "sharp_drop_ratio": "400"})
    assert refused.status_code == 422
    r = client.post("/monitoring/runs", data={"csrf_token": csrf, "year": "2025", "division": COUNTY},
                    follow_redirects=False)
    assert r.status_code == 303
    queued = client.get(r.headers["location"])
    assert 'http-equiv="refresh"' in queued.text
    jobs.run_pending(jobs.JobContext.build(database, settings), {runs.JOB_KIND: runs.run_monitoring_job})
    done = client.get(r.headers["location"])
    assert 'http-equiv="refresh"' not in done.text
    assert "<svg" in done.text
    run_id = int(r.headers["location"].rsplit("/", 1)[1])
    flagged = runs.flagged_households(db, run_id)
    assert flagged
    assert flagged[0].household_id in done.text
    assert re.search(r"预警 [\d,]+ 户|[\d,]+ 户被预警", done.text)
    api = client.get(f"/api/v1/monitoring/runs/{run_id}")
    assert api.status_code in (200, 401)  # the API takes tokens, not the portal's cookie
