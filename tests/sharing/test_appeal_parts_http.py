"""Appeals of parts of a decision over real HTTP (uvicorn on a loopback port, real commits): the
requesting department appeals only some of the fields and the period that a narrowing left out,
the big-data bureau grants part of that with a reason, and the grant gives exactly the owner's
fields plus the ones granted, for the period granted (the downloaded file has those columns);
refusals in both languages, nothing written; the policy decides who may; two bureau clerks
deciding at once: one wins, the other gets a bilingual 409. Run on SQLite and, with
QIANSHU_TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from qianshu.core.audit import AuditEvent
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.inbox import Notification
from qianshu.sharing import appeals, schemas, service
from qianshu.sharing.models import SharingAppeal
from qianshu.web.app import create_app
from tests.factories import Factories
from tests.sharing.conftest import END, START, build_world
from tests.sharing.test_appeals_http import _count, _outcome, _race, _settings, _tokens
from tests.web.live import live_server

ASKED = ["resident_id", "assistance", "monthly_amount_fen"]
FEED = b"resident_id,assistance,monthly_amount_fen\n520102199001011234,dibao,45000\n"


def _narrowed(db: Any, make: Factories, world: Any, settings: Any) -> int:
    """A request for three fields over 2026, narrowed by its owner to one field from April to September."""
    row = service.request_data(db, make.actor(world.other), settings, schemas.RequestIn(
        resource_id=world.conditional, purpose="防返贫监测", fields=ASKED, period_start=START, period_end=END))
    service.decide_request(db, make.actor(world.owner), row.id, schemas.DecisionIn(
        decision="narrow", fields=["resident_id"], period_start=dt.date(2026, 4, 1),
        period_end=dt.date(2026, 9, 30), expires_on=END))
    return row.id


@pytest.fixture
def served(isolated_database: Database, tmp_path: Path) -> Any:
    settings = _settings(isolated_database, tmp_path)
    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        world = build_world(db, make)
        requester, = _tokens(db, make, world.other.organisation)[:1]
        owner, = _tokens(db, make, world.owner.organisation)[:1]
        bureau = _tokens(db, make, world.bureau.organisation)
        request_id = _narrowed(db, make, world, settings)
        # a feed version as of March: outside the owner's period, inside the appealed one
        file_id = service.upload_file(db, make.actor(world.owner), open_blob_store(settings), settings,
                                      world.conditional, "march.csv", [FEED], dt.date(2026, 3, 1)).id
        races = [_narrowed(db, make, world, settings) for _ in range(2)]
        for race in races:
            appeals.file_appeal(db, make.actor(world.other), service.load_request(db, make.actor(world.other), race),
                                schemas.AppealIn(reason="需要救助类别", fields=["assistance"]))
        rejected = service.request_data(db, make.actor(world.other), settings, schemas.RequestIn(
            resource_id=world.conditional, purpose="防返贫监测", fields=ASKED, period_start=START, period_end=END))
        service.decide_request(db, make.actor(world.owner), rejected.id,
                               schemas.DecisionIn(decision="reject", reason="无法律依据"))
        tokens = {"requester": requester, "owner": owner, "bureau": bureau[0], "bureau2": bureau[1]}
        ids = {"narrowed": request_id, "file": file_id, "rejected": rejected.id}
    with live_server(create_app(settings, database=isolated_database)) as url:
        yield url, tokens, ids, races


def _post(url: str, token: str, path: str, body: dict[str, Any], lang: str = "zh") -> httpx.Response:
    with httpx.Client(base_url=url, timeout=60) as client:
        return client.post(path, json=body, headers={"Authorization": f"Bearer {token}", "Accept-Language": lang})


def _get(url: str, token: str, path: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=60) as client:
        return client.get(path, headers={"Authorization": f"Bearer {token}"})


def _refused(answer: httpx.Response, status: int, code: str, field: str | None, said: str) -> None:
    assert answer.status_code == status, answer.text[:500]
    problem = answer.json()
    assert (problem["code"], problem.get("field")) == (code, field), problem
    assert said in problem["detail"], problem


APPEAL_REFUSALS = [  # body, code, field, what zh says, what en says
    ({"fields": ["salary"]}, "not_appealed", "fields", "salary", "salary"),
    ({"fields": ["resident_id"], "period_start": "2026-04-01", "period_end": "2026-09-30"},
     "nothing_chosen", "fields", "至少选择一个字段", "at least one field"),
    ({"fields": [], "period_start": "2025-12-01"}, "not_appealed", "period_start", "2026-01-01 至 2026-12-31",
     "2026-01-01 to 2026-12-31"),
    ({"fields": ["assistance"], "period_start": "2026-05-01"}, "period_not_held", "period_start",
     "2026-04-01 至 2026-09-30", "2026-04-01 to 2026-09-30"),
    ({"fields": ["assistance"], "period_start": "2026-06-01", "period_end": "2026-02-01"}, "period_reversed",
     "period_end", "早于", "before"),
]


@pytest.mark.slow
def test_a_narrowing_is_appealed_in_part_and_granted_in_part(served, isolated_database: Database) -> None:  # type: ignore[no-untyped-def]
    url, tokens, ids, _races = served
    request_id, file_id = ids["narrowed"], ids["file"]
    path = f"/api/v1/sharing/requests/{request_id}"
    for body, code, field, zh, en in APPEAL_REFUSALS:
        for lang, said in (("zh", zh), ("en", en)):
            _refused(_post(url, tokens["requester"], f"{path}/appeal", {"reason": "需要", **body}, lang),
                     422, code, field, said)
    # the policy: the owner may not appeal
    assert _post(url, tokens["owner"], f"{path}/appeal", {"reason": "x"}).status_code == 403
    filed = _post(url, tokens["requester"], f"{path}/appeal", {
        "reason": "需要救助类别和金额、全年数据", "fields": ["monthly_amount_fen", "assistance", "resident_id"],
        "period_start": "2026-01-01", "period_end": "2026-12-31"})
    assert filed.status_code == 201, filed.text
    appeal = filed.json()
    assert appeal["fields"] == ["assistance", "monthly_amount_fen"]  # the granted field is not appealed
    assert (appeal["period_start"], appeal["period_end"]) == ("2026-01-01", "2026-12-31")
    # the bureau decides: the requester may not, a part not appealed and a missing reason are refused
    decide = f"{path}/appeal/decision"
    part = {"decision": "grant_part", "fields": ["assistance"], "period_start": "2026-02-01",
            "period_end": "2026-12-31"}
    assert _post(url, tokens["requester"], decide, {**part, "reason": "x"}).status_code == 403
    _refused(_post(url, tokens["bureau"], decide, part, "en"), 422, "reason_required", "reason", "part of the appeal")
    _refused(_post(url, tokens["bureau"], decide, {**part, "reason": "x", "fields": ["salary"]}, "zh"), 422,
             "not_appealed", "fields", "salary")
    _refused(_post(url, tokens["bureau"], decide, {**part, "reason": "x", "period_start": "2025-12-01"}, "en"),
             422, "not_appealed", "period_start", "2026-01-01 to 2026-12-31")
    with isolated_database.unit_of_work(write=False) as db:
        assert db.scalar(select(SharingAppeal.status).where(SharingAppeal.request_id == request_id)) == "pending"
    decided = _post(url, tokens["bureau"], decide, {**part, "reason": "金额涉及个人隐私，不予开通"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "partly_granted"
    assert decided.json()["granted_fields"] == ["assistance"]
    grant = _get(url, tokens["requester"], path).json()
    assert grant["status"] == "narrowed"
    assert grant["granted_fields"] == ["resident_id", "assistance"]
    assert (grant["granted_start"], grant["granted_end"], grant["expires_on"]) == ("2026-02-01", "2026-12-31",
                                                                                   "2026-12-31")
    assert [s["action"] for s in grant["timeline"]][-2:] == ["sharing.appeal.filed", "sharing.appeal.partly_granted"]
    # exactly what was granted: the March file, now in the period, with the two granted columns only
    assert [f["id"] for f in grant["files"]] == [file_id]
    download = _get(url, tokens["requester"], f"{path}/files/{file_id}")
    assert download.text.splitlines()[0] == "resident_id,assistance"
    # told, audited, and decided once
    with isolated_database.unit_of_work(write=False) as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == "sharing.appeal.partly_granted")).one()
        assert event.detail["reason"] == "金额涉及个人隐私，不予开通"
        assert event.detail["fields"] == ["resident_id", "assistance"]
        assert _count(db, Notification, Notification.subject_id == request_id,
                      Notification.message == appeals.APPEAL_DECIDED) == 2
    again = _post(url, tokens["bureau"], decide, {"decision": "grant"}, "en")
    _refused(again, 409, "appeal_already_decided", None, "granted in part")
    with httpx.Client(base_url=url, timeout=60) as client:
        page = client.get(f"/sharing/requests/{request_id}",
                          headers={"Authorization": f"Bearer {tokens['requester']}", "Accept-Language": "zh"})
    assert "部分准予" in page.text
    assert "金额涉及个人隐私" in page.text


@pytest.mark.slow
def test_two_bureau_clerks_decide_one_partial_appeal_at_once(served, isolated_database: Database) -> None:  # type: ignore[no-untyped-def]
    url, tokens, _ids, races = served
    bodies = [{"decision": "grant_part", "fields": ["assistance"], "period_start": "2026-03-01",
               "period_end": "2026-09-30", "reason": "只开通三月起"}, {"decision": "uphold", "reason": "维持"}]
    for request_id, langs in zip(races, (("zh", "en"), ("en", "zh")), strict=True):
        answers = _race(url, f"/api/v1/sharing/requests/{request_id}/appeal/decision",
                        [tokens["bureau"], tokens["bureau2"]], bodies, langs)
        won = _outcome(answers, langs, "appeal_already_decided", {"zh": "已处理", "en": "already decided"})
        grant = _get(url, tokens["requester"], f"/api/v1/sharing/requests/{request_id}").json()
        if won["status"] == "partly_granted":
            assert (grant["granted_fields"], grant["granted_start"]) == (["resident_id", "assistance"], "2026-03-01")
        else:
            assert (grant["granted_fields"], grant["granted_start"]) == (["resident_id"], "2026-04-01")
        with isolated_database.unit_of_work(write=False) as db:
            assert _count(db, AuditEvent, AuditEvent.target_id == str(request_id),
                          AuditEvent.action.in_(("sharing.appeal.upheld", "sharing.appeal.partly_granted"))) == 1


@pytest.mark.slow
def test_a_rejection_appealed_for_one_field_and_half_a_year(served, isolated_database: Database) -> None:  # type: ignore[no-untyped-def]
    url, tokens, ids, _races = served
    requester, bureau, request_id = tokens["requester"], tokens["bureau"], ids["rejected"]
    path = f"/api/v1/sharing/requests/{request_id}"
    _refused(_post(url, requester, f"{path}/appeal", {"reason": "x", "fields": []}, "en"), 422, "nothing_chosen",
             "fields", "at least one field")
    filed = _post(url, requester, f"{path}/appeal", {"reason": "只需救助类别、上半年", "fields": ["assistance"],
                                                     "period_end": "2026-06-30"})
    assert filed.status_code == 201, filed.text
    assert (filed.json()["fields"], filed.json()["period_start"]) == (["assistance"], "2026-01-01")
    decided = _post(url, bureau, f"{path}/appeal/decision", {"decision": "grant"})
    assert decided.json()["status"] == "granted"
    grant = _get(url, requester, path).json()
    assert (grant["status"], grant["granted_fields"]) == ("narrowed", ["assistance"])
    assert (grant["granted_start"], grant["granted_end"], grant["expires_on"]) == ("2026-01-01", "2026-06-30",
                                                                                   "2026-06-30")
