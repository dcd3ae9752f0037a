"""Monitoring routes by role.

Feeds, rules and runs: departments (government organisations) see and send the feeds of their
divisions; only monitoring administrators set the rules and start runs (no role of the matrix is
one: tests/monitoring/test_feeds.py tries them). The objects lie in county 520102.

Cases and dashboards: a case lies in a village of Nanming district (520102001001): the matrix's
caseworker whose jurisdiction is Guiyang (a prefecture) lists, reads and counts it but does no step
(steps are the county's, township's and village's); the one of Zunyi sees nothing of it; anyone may
apply for monitoring (a self-report). Levels are tried in tests/monitoring/."""

from __future__ import annotations

from typing import Any

from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.identifiers import resident_id_check_char
from qianshu.core.policy import Resource
from qianshu.monitoring import case_opening
from qianshu.monitoring.models import Case, FeedUpload, FeedVersion, MonitoringRun, SharedFeed
from qianshu.monitoring.permissions import case_resource
from tests.permission_support import EVERYONE, Row

COUNTY = "520102"
HOME = "monitoring_home"
AT = "monitoring_county"


def _version(c: dict[str, Any]) -> dict[str, Any]:
    return {"version_id": c["monitoring_version"]}


def _shared_feed(c: dict[str, Any]) -> dict[str, Any]:
    return {"shared_feed_id": c["monitoring_shared_feed"]}


SHARED = "monitoring_shared_feed"


def _run(c: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": c["monitoring_run"]}


VILLAGE = "520102001001"
CASE = "monitoring_case"


def _resident(n: int) -> str:
    first17 = f"52010219800101{n:03d}"
    return first17 + resident_id_check_char(first17)


def _open_body(c: dict[str, Any]) -> dict[str, Any]:
    return {"channel": "cadre_visit", "division_code": VILLAGE, "head_name": "王五",
            "head_resident_id": _resident(11), "members": 2, "note": "排查"}


def _form_body(c: dict[str, Any]) -> dict[str, Any]:
    return {**_open_body(c), "members": "2", "head_resident_id": _resident(12)}


def _case(c: dict[str, Any]) -> dict[str, Any]:
    return {"case_id": c["monitoring_case"]}


ROWS = {
    ("POST", "/api/v1/monitoring/feeds"): Row(query=f"?feed=housing&year=2025&division={COUNTY}",
                                              body=lambda c: {}, action="monitoring.feeds.upload", on=AT),
    ("GET", "/api/v1/monitoring/feeds"): Row(action="monitoring.feeds.read", on=HOME),
    # receiving a sharing grant as a feed: who uses the grant and may send the division's feed (the
    # grant is received already, by the declaration made below for the withdrawals: 409)
    ("POST", "/api/v1/monitoring/shared-feeds"): Row(
        body=lambda c: {"request_id": c["outgoing_request"], "feed": "civil_affairs", "division": COUNTY},
        action=("sharing.grant.use", "monitoring.feeds.upload"), on=SHARED),
    ("GET", "/api/v1/monitoring/shared-feeds"): Row(action="monitoring.feeds.read", on=HOME),
    ("POST", "/monitoring/feeds/shared"): Row(
        body=lambda c: {"request_id": str(c["outgoing_request"]), "feed": "civil_affairs", "division": COUNTY},
        action=("sharing.grant.use", "monitoring.feeds.upload"), on=SHARED),
    # withdrawing it: the declaration is the actor's organisation's, on a grant it uses (sharing's
    # outgoing request), for a division whose feeds it may send
    ("POST", "/api/v1/monitoring/shared-feeds/{shared_feed_id}/withdraw"): Row(
        params=_shared_feed, body=lambda c: {"reason": "矩阵"}, action=("sharing.grant.use", "monitoring.feeds.upload"),
        on=SHARED),
    ("POST", "/monitoring/feeds/shared/{shared_feed_id:int}/withdraw"): Row(
        params=_shared_feed, body=lambda c: {"reason": "矩阵"}, action=("sharing.grant.use", "monitoring.feeds.upload"),
        on=SHARED),
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
    ("GET", "/api/v1/monitoring/feeds/uploads/{upload_id}"): Row(
        params=lambda c: {"upload_id": c["monitoring_upload"]}, action="monitoring.feeds.read", on=AT),
    ("GET", "/monitoring/feeds/uploads/{upload_id:int}"): Row(
        params=lambda c: {"upload_id": c["monitoring_upload"]}, action="monitoring.feeds.read", on=AT),
    ("GET", "/monitoring/runs"): Row(action="monitoring.runs.read", on=HOME),
    ("POST", "/monitoring/runs"): Row(body=lambda c: {"year": "2025", "division": COUNTY},
                                      action="monitoring.runs.start", on=AT),
    ("GET", "/monitoring/runs/{run_id:int}"): Row(params=_run, action="monitoring.runs.read", on=AT),
    ("GET", "/api/v1/monitoring/cases"): Row(action="monitoring.case.list"),
    ("GET", "/api/v1/monitoring/cases.csv"): Row(action="monitoring.case.list"),
    ("POST", "/api/v1/monitoring/cases"): Row(body=_open_body, action="monitoring.case.open", on=CASE),
    ("GET", "/api/v1/monitoring/cases/{case_id}"): Row(params=_case, action="monitoring.case.read", on=CASE),
    ("POST", "/api/v1/monitoring/cases/{case_id}/steps/{step}"): Row(
        params=lambda c: {**_case(c), "step": "visit"}, body=lambda c: {"version": 1, "findings": "x"},
        action="monitoring.case.open", on=CASE),
    ("GET", "/api/v1/monitoring/dashboard"): Row(action="monitoring.dashboard"),
    ("GET", "/monitoring/cases"): Row(action="monitoring.case.list"),
    ("GET", "/monitoring/cases.csv"): Row(action="monitoring.case.list"),
    ("GET", "/monitoring/cases/new"): Row(action="monitoring.case.list"),
    ("POST", "/monitoring/cases"): Row(body=_form_body, action="monitoring.case.open", on=CASE),
    ("GET", "/monitoring/cases/{case_id:int}"): Row(params=_case, action="monitoring.case.read", on=CASE),
    ("POST", "/monitoring/cases/{case_id:int}/steps/{step}"): Row(
        params=lambda c: {**_case(c), "step": "visit"}, body=lambda c: {"version": "1", "findings": "x"},
        action="monitoring.case.open", on=CASE),
    ("GET", "/monitoring/cases/{case_id:int}/files/{digest}"): Row(
        params=lambda c: {**_case(c), "digest": "a" * 64}, action="monitoring.case.identify", on=CASE),
    ("GET", "/monitoring/apply"): Row(EVERYONE, action="monitoring.case.self_report"),
    ("POST", "/monitoring/apply"): Row(EVERYONE, body=lambda c: {**_form_body(c), "channel": "self_report",
                                                                  "head_resident_id": _resident(13)},
                                       action="monitoring.case.self_report"),
    ("GET", "/monitoring/dashboard"): Row(action="monitoring.dashboard"),
    ("GET", "/monitoring/dashboard/{name}.csv"): Row(params=lambda c: {"name": "by_month"},
                                                     action="monitoring.dashboard"),
    ("GET", "/monitoring/dashboard.xlsx"): Row(action="monitoring.dashboard"),
}


def setup(ctx: dict[str, Any], db: Any, make: Any, actor: Actor | None, env: dict[str, Any]) -> None:
    store = open_blob_store(env["settings"])
    digest, _ = store.put_stream([b"row,reason\r\n1,missing\r\n"])
    version = FeedVersion(feed="housing", department="housing", year=2025, division_code=COUNTY, version=1,
                          source_name="housing.csv", source_format="csv", source_encoding="utf-8",
                          source_digest=digest, rows_digest=digest, rejects_digest=digest, rows_total=1,
                          rows_rejected=1)
    run = MonitoringRun(year=2025, division_code=COUNTY, status="succeeded")
    upload = FeedUpload(feed="housing", year=2025, division_code=COUNTY, source_name="housing.csv",
                        source_digest=digest, size=1, status="stored")
    db.add_all([version, run, upload])
    db.flush()
    ctx["monitoring_version"], ctx["monitoring_run"], ctx["monitoring_upload"] = version.id, run.id, upload.id
    ctx["res"][AT] = Resource(division=COUNTY)
    ctx["res"][HOME] = Resource(division=(actor.jurisdiction if actor else None) or "520000")
    case_opening.open_cases_from_flags(db, [{
        "household_id": "M1", "division_code": VILLAGE, "proposed_type": "marginal",
        "reasons": ["income_below_threshold"], "head_name": "王大山", "head_resident_id": _resident(10),
        "members": 3, "traces": []}], "matrix")
    db.flush()
    ctx["monitoring_case"] = db.query(Case).filter(Case.open_household == "M1").one().id
    ctx["res"][CASE] = case_resource(VILLAGE)
    # a feed the actor's organisation receives through sharing's outgoing grant (tests/sharing/permission_rows.py)
    ctx[SHARED] = 10**9  # none: a visitor's, refused
    owner = ctx["res"]["outgoing_request"].org_id if "outgoing_request" in ctx["res"] else None
    if actor is not None and actor.org_id is not None and actor.user_id is not None and "outgoing_request" in ctx:
        shared = SharedFeed(request_id=ctx["outgoing_request"], feed="civil_affairs", division_code=COUNTY,
                            org_id=actor.org_id, created_by=actor.user_id)
        db.add(shared)
        db.flush()
        ctx[SHARED] = shared.id
    ctx["res"][SHARED] = Resource(org_id=owner, counterparties=(actor.org_id,) if actor and actor.org_id else (),
                                  division=COUNTY)
