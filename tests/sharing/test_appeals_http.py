"""Two decisions at once over real HTTP (uvicorn on a loopback port, real commits): two clerks of
the big-data bureau decide one appeal, two clerks of the owner decide one request for a longer
grant. Exactly one decision is applied; the other gets a 409 in its reader's language, and nothing
of it is written (one audit row, one notice). Run on SQLite and, with QIANSHU_TEST_DATABASE_URL, on
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from qianshu.accounts import service as accounts
from qianshu.accounts.schemas import TokenIn
from qianshu.core.audit import AuditEvent
from qianshu.core.db import Database
from qianshu.core.inbox import Notification
from qianshu.core.settings import Settings
from qianshu.sharing import appeals, grants, schemas, service
from qianshu.sharing.models import SharingAppeal, SharingExtension, SharingRequest
from qianshu.web.app import create_app
from tests.factories import Factories
from tests.sharing.conftest import END, build_world
from tests.web.live import live_server


def _settings(database: Database, tmp_path: Path) -> Settings:
    return Settings(environment="test", data_dir=tmp_path / "data", database_url=database.url,
                    secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False)


def _tokens(db: Any, make: Factories, organisation: Any) -> list[str]:
    """API tokens of two clerks of one organisation."""
    clerks = [make.user(organisation=organisation, org_role="admin") for _ in range(2)]
    return [accounts.create_token(db, accounts.actor_for(u, via="api", ip=None),
                                  TokenIn(name="t", scopes=["read", "write"]))[1] for u in clerks]


def _race(url: str, path: str, tokens: list[str], bodies: list[dict[str, Any]],
          langs: tuple[str, str]) -> list[httpx.Response]:
    start = threading.Barrier(2)
    answers: list[Any] = [None, None]

    def post(i: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            start.wait()
            answers[i] = client.post(path, json=bodies[i], headers={"Authorization": f"Bearer {tokens[i]}",
                                                                    "Accept-Language": langs[i]})

    threads = [threading.Thread(target=post, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(a.status_code for a in answers) == [200, 409], [(a.status_code, a.text[:300]) for a in answers]
    return answers


def _outcome(answers: list[httpx.Response], langs: tuple[str, str], code: str,
             said: dict[str, str]) -> dict[str, Any]:
    """The winner's body; the loser's 409 has ``code`` and says ``said[its language]``."""
    lost_at = next(i for i, a in enumerate(answers) if a.status_code == 409)
    lost = answers[lost_at].json()
    assert lost["code"] == code
    assert said[langs[lost_at]] in lost["detail"]
    return answers[1 - lost_at].json()  # type: ignore[no-any-return]


def _count(db: Any, model: Any, *where: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.mark.slow
def test_two_bureau_clerks_decide_one_appeal_at_once(isolated_database: Database, tmp_path: Path) -> None:
    settings = _settings(isolated_database, tmp_path)
    rounds = []
    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        world = build_world(db, make)
        tokens = _tokens(db, make, world.bureau.organisation)
        for _round in range(2):
            row = service.request_data(db, make.actor(world.other), settings, schemas.RequestIn(
                resource_id=world.conditional, purpose="防返贫监测", fields=["resident_id", "assistance"],
                period_start=dt.date(2026, 1, 1), period_end=END))
            service.decide_request(db, make.actor(world.owner), row.id,
                                   schemas.DecisionIn(decision="reject", reason="无依据"))
            appeals.file_appeal(db, make.actor(world.other), row, schemas.AppealIn(reason="有依据"))
            rounds.append(row.id)
    bodies = [{"decision": "uphold", "reason": "维持原答复"}, {"decision": "grant"}]
    with live_server(create_app(settings, database=isolated_database)) as url:
        for request_id, langs in zip(rounds, (("zh", "en"), ("en", "zh")), strict=True):
            answers = _race(url, f"/api/v1/sharing/requests/{request_id}/appeal/decision", tokens, bodies, langs)
            won = _outcome(answers, langs, "appeal_already_decided", {"zh": "已处理", "en": "already decided"})
            with isolated_database.unit_of_work(write=False) as db:
                assert db.get_one(SharingAppeal, won["id"]).status == won["status"]
                request = db.get_one(SharingRequest, request_id)
                assert request.status == ("approved" if won["status"] == "granted" else "rejected")
                assert _count(db, AuditEvent, AuditEvent.target_id == str(request_id),
                              AuditEvent.action.in_(("sharing.appeal.upheld", "sharing.appeal.granted"))) == 1
                assert _count(db, Notification, Notification.subject_id == request_id,
                              Notification.message == appeals.APPEAL_DECIDED) == 2  # requester and owner, once


@pytest.mark.slow
def test_two_owner_clerks_decide_one_longer_grant_at_once(isolated_database: Database, tmp_path: Path) -> None:
    settings = _settings(isolated_database, tmp_path)
    ends = grants.today() + dt.timedelta(days=20)
    rounds = []
    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        world = build_world(db, make)
        tokens = _tokens(db, make, world.owner.organisation)
        for _round in range(2):
            row = service.request_data(db, make.actor(world.other), settings, schemas.RequestIn(
                resource_id=world.conditional, purpose="防返贫监测", fields=["resident_id"],
                period_start=dt.date(2026, 1, 1), period_end=END))
            service.decide_request(db, make.actor(world.owner), row.id,
                                   schemas.DecisionIn(decision="approve", expires_on=ends))
            asked = appeals.ask_extension(db, make.actor(world.other), row, schemas.ExtensionIn(
                until=ends + dt.timedelta(days=180), reason="继续监测"))
            rounds.append((row.id, asked.id))
    bodies = [{"decision": "approve"}, {"decision": "refuse", "reason": "期限已足够"}]
    with live_server(create_app(settings, database=isolated_database)) as url:
        for (request_id, extension_id), langs in zip(rounds, (("en", "zh"), ("zh", "en")), strict=True):
            answers = _race(url, f"/api/v1/sharing/requests/{request_id}/extensions/{extension_id}/decision",
                            tokens, bodies, langs)
            won = _outcome(answers, langs, "extension_already_decided", {"zh": "未生效", "en": "was not applied"})
            with isolated_database.unit_of_work(write=False) as db:
                assert db.get_one(SharingExtension, extension_id).status == won["status"]
                expected = ends + dt.timedelta(days=180) if won["status"] == "approved" else ends
                assert db.get_one(SharingRequest, request_id).expires_on == expected
                assert _count(db, AuditEvent, AuditEvent.target_id == str(request_id),
                              AuditEvent.action.in_(("sharing.extension.approved",
                                                     "sharing.extension.refused"))) == 1
                assert _count(db, Notification, Notification.subject_id == request_id,
                              Notification.message == appeals.EXTENSION_DECIDED) == 1
