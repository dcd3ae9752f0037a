"""Monitoring's feeds, rules and runs by role. Departments (government organisations) see and send
the feeds of their divisions; only monitoring administrators set the rules and start runs (no role
of the matrix is one: tests/monitoring/test_feeds.py tries them). The objects lie in county 520102."""

from __future__ import annotations

from typing import Any

from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.policy import Resource
from qianshu.monitoring.models import FeedVersion, MonitoringRun
from tests.permission_support import Row

COUNTY = "520102"
HOME = "monitoring_home"
AT = "monitoring_county"


def _version(c: dict[str, Any]) -> dict[str, Any]:
    return {"version_id": c["monitoring_version"]}


def _run(c: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": c["monitoring_run"]}


ROWS = {
    ("POST", "/api/v1/monitoring/feeds"): Row(query=f"?feed=housing&year=2025&division={COUNTY}",
                                              body=lambda c: {}, action="monitoring.feeds.upload", on=AT),
    ("GET", "/api/v1/monitoring/feeds"): Row(action="monitoring.feeds.read", on=HOME),
    ("GET", "/api/v1/monitoring/feeds/{version_id}/rejects.csv"): Row(params=_version, action="monitoring.feeds.read",
                                                                      on=AT),
    ("GET", "/api/v1/monitoring/rules/{year}/{division}"): Row(params=lambda c: {"year": 2025, "division": COUNTY},
                                                              action="monitoring.rules.read", on=AT),
    ("PUT", "/api/v1/monitoring/rules/{year}/{division}"): Row(
        params=lambda c: {"year": 2025, "division": COUNTY}, body=lambda c: {"parameters": {"disability_max_grade": 3}},
        action="monitoring.rules.edit", on=AT),
    ("POST", "/api/v1/monitoring/runs"): Row(body=lambda c: {"year": 2025, "division": COUNTY},
                                             action="monitoring.runs.start", on=AT),
    ("GET", "/api/v1/monitoring/runs/{run_id}"): Row(params=_run, action="monitoring.runs.read", on=AT),
    ("GET", "/api/v1/monitoring/runs/{run_id}/households"): Row(params=_run, action="monitoring.runs.read", on=AT),
    ("GET", "/monitoring/feeds"): Row(action="monitoring.feeds.read", on=HOME),
    ("POST", "/monitoring/feeds"): Row(body=lambda c: {"feed": "housing", "year": "2025", "division": COUNTY},
                                       action="monitoring.feeds.upload", on=AT),
    ("GET", "/monitoring/feeds/{version_id:int}"): Row(params=_version, action="monitoring.feeds.read", on=AT),
    ("GET", "/monitoring/feeds/{version_id:int}/rejects.csv"): Row(params=_version, action="monitoring.feeds.read",
                                                                   on=AT),
    ("GET", "/monitoring/rules"): Row(query=f"?year=2025&division={COUNTY}", action="monitoring.rules.read", on=AT),
    ("POST", "/monitoring/rules"): Row(body=lambda c: {"year": "2025", "division": COUNTY,
                                                       "income_threshold_fen": "9000"},
                                       action="monitoring.rules.edit", on=AT),
    ("GET", "/monitoring/runs"): Row(action="monitoring.runs.read", on=HOME),
    ("POST", "/monitoring/runs"): Row(body=lambda c: {"year": "2025", "division": COUNTY},
                                      action="monitoring.runs.start", on=AT),
    ("GET", "/monitoring/runs/{run_id:int}"): Row(params=_run, action="monitoring.runs.read", on=AT),
}


def setup(ctx: dict[str, Any], db: Any, make: Any, actor: Actor | None, env: dict[str, Any]) -> None:
    store = open_blob_store(env["settings"])
    digest, _ = store.put_stream([b"row,reason\r\n1,missing\r\n"])
    version = FeedVersion(feed="housing", department="housing", year=2025, division_code=COUNTY, version=1,
                          source_name="housing.csv", source_format="csv", source_encoding="utf-8",
                          source_digest=digest, rows_digest=digest, rejects_digest=digest, rows_total=1,
                          rows_rejected=1)
    run = MonitoringRun(year=2025, division_code=COUNTY, status="succeeded")
    db.add_all([version, run])
    db.flush()
    ctx["monitoring_version"], ctx["monitoring_run"] = version.id, run.id
    ctx["res"][AT] = Resource(division=COUNTY)
    ctx["res"][HOME] = Resource(division=(actor.jurisdiction if actor else None) or "520000")
