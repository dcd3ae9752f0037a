"""Feeds through data sharing: the civil affairs department's resource, granted (narrowed) to a
county's monitoring bureau and received as its `civil_affairs` feed, arrives version by version as
the owner publishes: checked like an uploaded file (its bad row reported with the reason), versioned
with the grant it came through, only the granted columns, in the owner's access log, read by a run.
A revoked or expired grant delivers nothing and says so; the declaration is checked; two deliveries
of one version at once store it once; the API declares and lists. A declaration withdrawn (the API,
the portal; two at once over real HTTP) stays as history and takes in nothing more."""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.accounts.models import Organisation, User
from qianshu.accounts.schemas import TokenIn
from qianshu.core import inbox, jobs
from qianshu.core.actor import Actor
from qianshu.core.audit import AuditEvent
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from qianshu.core.i18n import LANG_COOKIE
from qianshu.core.settings import Settings
from qianshu.monitoring import feed_uploads, feeds, runs, shared_feeds
from qianshu.monitoring.models import FeedUpload, FeedVersion, MonitoringRun, SharedFeed
from qianshu.monitoring.population import FEEDS, generate
from qianshu.sharing import grants, schemas, service
from qianshu.sharing.models import SharingAccess, SharingRequest
from qianshu.web.app import create_app
from tests.factories import Factories
from tests.monitoring.conftest import resident_id
from tests.web.live import live_server

COUNTY = "522636"
YEAR = 2026
HANDLERS = {shared_feeds.JOB_KIND: shared_feeds.deliver_job, feed_uploads.JOB_KIND: feed_uploads.validate_upload_job}
F = schemas.FieldIn
FIELDS = [F(name="household_id", type="string", meaning_zh="户编号"),
          F(name="head_resident_id", type="string", meaning_zh="户主身份号码"),
          F(name="assistance", type="code", meaning_zh="救助类别"),
          F(name="monthly_amount_fen", type="integer", meaning_zh="月救助金额（分）"),
          F(name="start_date", type="date", meaning_zh="救助起始日期"),
          F(name="phone", type="string", meaning_zh="联系电话")]
COLUMNS = [f.name for f in FIELDS]


@dataclass
class World:
    owner: Actor  # the civil affairs department
    receiver: Actor  # the county's monitoring bureau: a caseworker of the county
    admin: Actor  # its monitoring administrator
    resource_id: int


def build(db: Session, make: Factories) -> World:
    owner = make.actor(make.user(organisation=make.org(org_type="government", name="贵州省民政厅"), org_role="admin"))
    bureau = make.org(org_type="government", name="丹寨县乡村振兴局", division_code=COUNTY)
    receiver = make.actor(make.user(organisation=bureau, org_role="member", jurisdiction=COUNTY))
    admin = make.actor(make.user(organisation=bureau, org_role="monitoring_admin", jurisdiction=COUNTY))
    resource = service.publish_resource(db, owner, schemas.ResourceIn(
        code="civil_affairs", name_zh="社会救助对象信息", name_en="Social assistance recipients", fields=FIELDS,
        update_frequency="monthly", legal_basis="《政务信息资源共享管理暂行办法》", sharing_class="conditional",
        conditions="仅用于防返贫监测"))
    db.flush()
    return World(owner, receiver, admin, resource.id)


def grant(db: Session, world: World, settings: Settings, *, fields: list[str] | None = None,
          access: str = "feed") -> int:
    """The bureau asks for every field; the owner narrows away the phone numbers."""
    row = service.request_data(db, world.receiver, settings, schemas.RequestIn(
        resource_id=world.resource_id, purpose="防返贫监测", fields=COLUMNS, period_start=dt.date(YEAR, 1, 1),
        period_end=dt.date(YEAR, 12, 31), access_type=access))
    service.decide_request(db, world.owner, row.id, schemas.DecisionIn(
        decision="narrow", fields=fields or COLUMNS[:-1]))
    return row.id


def civil_csv(rows: list[dict[str, Any]], bad: int = 1) -> bytes:
    """The department's file: its rows with phone numbers, and ``bad`` rows whose head's resident ID
    has a wrong check character."""
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "phone": "13800000000"})
    for n in range(bad):
        good = resident_id(COUNTY, 900 + n)
        wrong = good[:17] + ("0" if good[17] != "0" else "1")
        writer.writerow({"household_id": f"{COUNTY}{99000000000 + n:011d}", "head_resident_id": wrong,
                         "assistance": "special_hardship", "monthly_amount_fen": "50000",
                         "start_date": "2025-03-01", "phone": "13800000001"})
    return out.getvalue().encode()


def publish(db: Session, world: World, settings: Settings, body: bytes, as_of: dt.date = dt.date(YEAR, 6, 30)) -> int:
    return service.upload_file(db, world.owner, open_blob_store(settings), settings, world.resource_id,
                               "civil_affairs.csv", [body], as_of).id


def simple_rows(n: int = 3) -> list[dict[str, Any]]:
    return [{"household_id": f"{COUNTY}{10000000000 + i:011d}", "head_resident_id": resident_id(COUNTY, i),
             "assistance": "minimum_living_allowance", "monthly_amount_fen": str(30000 + i),
             "start_date": "2024-05-01"} for i in range(n)]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("feeds")
    generate(out, scope=[COUNTY], scale=0.002, seed=7, year=YEAR)
    return out


def test_a_feed_through_sharing_arrives_checked_versioned_and_read_by_a_run(
        db: Session, database: Database, settings: Settings, make: Factories, generated: Path) -> None:
    world = build(db, make)
    request_id = grant(db, world, settings)
    declared = shared_feeds.receive_grant(db, world.receiver, request_id, "civil_affairs", COUNTY)
    assert declared.feed == "civil_affairs"
    # the county's other feeds, uploaded as files
    store = open_blob_store(settings)
    for feed in FEEDS:
        if feed != "civil_affairs":
            feeds.store_feed(db, world.receiver, store, generated / f"{feed}.parquet", feeds.Upload(
                feed=feed, year=YEAR, division=COUNTY, name=f"{feed}.parquet"))
    rows = pq.read_table(generated / "civil_affairs.parquet").to_pylist()
    rows = [{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in r.items()} for r in rows]
    assert rows
    file_id = publish(db, world, settings, civil_csv(rows))
    db.flush()
    context = jobs.JobContext.build(database, settings)
    assert jobs.run_pending(context, HANDLERS) == 2  # the delivery, then the same check as an upload
    upload = db.scalars(select(FeedUpload).where(FeedUpload.sharing_request_id == request_id)).one()
    assert (upload.status, upload.sharing_file_id, upload.sharing_file_version) == ("stored", file_id, 1)
    version = db.get_one(FeedVersion, upload.version_id)
    assert (version.feed, version.year, version.division_code, version.version) == ("civil_affairs", YEAR, COUNTY, 1)
    assert version.sharing_request_id == request_id
    assert version.sharing_file_version == 1
    assert (version.rows_accepted, version.rows_rejected) == (len(rows), 1)
    rejects = store.path(version.rejects_digest or "").read_bytes().decode("utf-8-sig")
    assert "head_resident_id" in rejects
    assert "GB 11643" in rejects
    assert "公民身份号码" in rejects
    # only the granted columns arrived: the phone numbers were narrowed away
    sent = store.path(version.source_digest).read_text("utf-8")
    assert sent.splitlines()[0] == ",".join(COLUMNS[:-1])
    assert "13800000000" not in sent
    # the owner sees the access in its access log
    accesses = service.access_log(db, world.owner)
    assert [(a.kind, a.request_id, a.file_id) for a in accesses] == [("feed", request_id, file_id)]
    assert accesses[0].detail["fields"] == COLUMNS[:-1]
    # a run reads it
    run = runs.start_run(db, world.admin, YEAR, COUNTY)
    assert version.id in run.feed_version_ids
    db.flush()
    assert jobs.run_pending(context, {runs.JOB_KIND: runs.run_monitoring_job}) == 1
    db.expire_all()
    assert db.get_one(MonitoringRun, run.id).status == "succeeded"
    # a second version the owner publishes arrives as version 2
    publish(db, world, settings, civil_csv(rows[:1], bad=0), dt.date(YEAR, 7, 31))
    db.flush()
    assert jobs.run_pending(context, HANDLERS) == 2
    newest = feeds.current_versions(db, YEAR, COUNTY)["civil_affairs"]
    assert [(v.version, v.rows_accepted, v.sharing_file_version) for v in newest] == [(2, 1, 2)]


def _refused_delivery(db: Session, database: Database, settings: Settings, world: World,
                      request_id: int) -> FeedUpload:
    publish(db, world, settings, civil_csv(simple_rows()))
    db.flush()
    assert jobs.run_pending(jobs.JobContext.build(database, settings), HANDLERS) == 1  # no check queued
    upload = db.scalars(select(FeedUpload).where(FeedUpload.sharing_request_id == request_id)).one()
    assert upload.status == "refused"
    assert upload.version_id is None
    assert db.scalar(select(func.count()).select_from(FeedVersion)) == 0
    assert db.scalar(select(func.count()).select_from(SharingAccess)) == 0
    return upload


def test_a_revoked_grant_delivers_nothing_and_says_so(db: Session, database: Database, settings: Settings,
                                                       make: Factories) -> None:
    world = build(db, make)
    request_id = grant(db, world, settings)
    shared_feeds.receive_grant(db, world.receiver, request_id, "civil_affairs", COUNTY)
    grants.revoke(db, world.owner, db.get_one(SharingRequest, request_id), "核对结束")
    upload = _refused_delivery(db, database, settings, world, request_id)
    assert upload.error is not None
    assert upload.error["code"] == "not_granted"
    assert "revoked" in feed_uploads.error_text(upload, "en")
    assert "已撤销" in feed_uploads.error_text(upload, "zh")


def test_an_expired_grant_delivers_nothing_and_says_so(db: Session, database: Database, settings: Settings,
                                                        make: Factories) -> None:
    world = build(db, make)
    request_id = grant(db, world, settings)
    shared_feeds.receive_grant(db, world.receiver, request_id, "civil_affairs", COUNTY)
    db.execute(update(SharingRequest).where(SharingRequest.id == request_id)
               .values(expires_on=grants.today() - dt.timedelta(days=1)))
    upload = _refused_delivery(db, database, settings, world, request_id)
    assert upload.error is not None
    assert upload.error["code"] == "grant_expired"
    assert "ended on" in feed_uploads.error_text(upload, "en")
    assert "到期" in feed_uploads.error_text(upload, "zh") or "结束" in feed_uploads.error_text(upload, "zh")


def test_a_version_outside_the_granted_period_does_not_arrive(db: Session, database: Database, settings: Settings,
                                                               make: Factories) -> None:
    world = build(db, make)
    request_id = grant(db, world, settings)
    shared_feeds.receive_grant(db, world.receiver, request_id, "civil_affairs", COUNTY)
    publish(db, world, settings, civil_csv(simple_rows()), dt.date(YEAR + 1, 1, 31))
    db.flush()
    jobs.run_pending(jobs.JobContext.build(database, settings), HANDLERS)
    upload = db.scalars(select(FeedUpload).where(FeedUpload.sharing_request_id == request_id)).one()
    assert (upload.status, upload.version_id) == ("refused", None)
    assert "not part of this grant" in feed_uploads.error_text(upload, "en")


def test_the_declaration_is_checked(db: Session, settings: Settings, make: Factories) -> None:
    world = build(db, make)
    feed_grant = grant(db, world, settings)
    # a grant that leaves out a column the feed needs
    short = grant(db, world, settings, fields=["household_id", "head_resident_id", "assistance"])
    with pytest.raises(InvalidInput) as refused:
        shared_feeds.receive_grant(db, world.receiver, short, "civil_affairs", COUNTY)
    assert refused.value.code == "columns_not_granted"
    assert "monthly_amount_fen, start_date" in refused.value.render("en")
    # a sandbox grant
    sandbox = grant(db, world, settings, access="sandbox")
    with pytest.raises(Conflict) as conflict:
        shared_feeds.receive_grant(db, world.receiver, sandbox, "civil_affairs", COUNTY)
    assert conflict.value.code == "not_feed"
    # an unknown feed, another county's division
    with pytest.raises(InvalidInput):
        shared_feeds.receive_grant(db, world.receiver, feed_grant, "no_such_feed", COUNTY)
    with pytest.raises(PermissionDenied):
        shared_feeds.receive_grant(db, world.receiver, feed_grant, "civil_affairs", "520102")
    # another organisation's grant does not exist for it
    stranger = make.actor(make.user(organisation=make.org(org_type="government", division_code=COUNTY),
                                    jurisdiction=COUNTY))
    with pytest.raises(NotFound):
        shared_feeds.receive_grant(db, stranger, feed_grant, "civil_affairs", COUNTY)
    # a revoked grant
    revoked = grant(db, world, settings)
    grants.revoke(db, world.owner, db.get_one(SharingRequest, revoked), "停止")
    with pytest.raises(Conflict) as conflict:
        shared_feeds.receive_grant(db, world.receiver, revoked, "civil_affairs", COUNTY)
    assert conflict.value.code == "grant_not_active"
    # declared once
    shared_feeds.receive_grant(db, world.receiver, feed_grant, "civil_affairs", COUNTY)
    with pytest.raises(Conflict) as conflict:
        shared_feeds.receive_grant(db, world.receiver, feed_grant, "civil_affairs", COUNTY)
    assert conflict.value.code == "already_received"
    assert [r.request_id for r in shared_feeds.shared_feeds(db, world.receiver)] == [feed_grant]


def test_two_deliveries_of_one_version_at_once_store_it_once(isolated_database: Database,
                                                             settings: Settings) -> None:
    with isolated_database.unit_of_work() as db:
        world = build(db, Factories(db))
        request_id = grant(db, world, settings)
        binding = shared_feeds.receive_grant(db, world.receiver, request_id, "civil_affairs", COUNTY).id
        file_id = publish(db, world, settings, civil_csv(simple_rows()))
    store = open_blob_store(settings)
    barrier = threading.Barrier(2)
    outcomes: list[Any] = [None, None]

    def deliver(i: int) -> None:
        barrier.wait()
        try:
            with isolated_database.unit_of_work() as db:
                row = shared_feeds.deliver(db, store, binding, file_id)
                outcomes[i] = row.id if row is not None else None
        except Exception as exc:  # pragma: no cover - shown by the assertion
            outcomes[i] = exc

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes, key=lambda o: o is None)[1] is None, outcomes
    assert isinstance(sorted(outcomes, key=lambda o: o is None)[0], int), outcomes
    # the job queued when the file was published delivers nothing more; the check stores one version
    jobs.run_pending(jobs.JobContext.build(isolated_database, settings), HANDLERS)
    with isolated_database.unit_of_work(write=False) as db:
        assert db.scalar(select(func.count()).select_from(FeedUpload)) == 1
        assert db.scalar(select(func.count()).select_from(SharingAccess)) == 1
        versions = db.scalars(select(FeedVersion)).all()
        assert [(v.version, v.rows_accepted, v.rows_rejected) for v in versions] == [(1, 3, 1)]
        assert db.scalar(select(func.count()).select_from(SharedFeed)) == 1


def test_the_api_declares_a_grant_and_the_versions_say_how_they_came(  # type: ignore[no-untyped-def]
        client, db: Session, database: Database, settings: Settings, make: Factories, bearer) -> None:
    world = build(db, make)
    request_id = grant(db, world, settings)
    publish(db, world, settings, civil_csv(simple_rows()))
    receiver = db.get_one(User, world.receiver.user_id)
    headers = {**bearer(receiver), "Accept-Language": "en"}
    r = client.post("/api/v1/monitoring/shared-feeds", headers=headers,
                    json={"request_id": request_id, "feed": "civil_affairs", "division": COUNTY})
    assert r.status_code == 201, r.text
    assert r.json()["feed"] == "civil_affairs"
    again = client.post("/api/v1/monitoring/shared-feeds", headers={**headers, "Accept-Language": "zh"},
                        json={"request_id": request_id, "feed": "civil_affairs", "division": COUNTY})
    assert again.status_code == 409
    assert (again.json()["code"], again.json()["field"]) == ("already_received", "request_id")
    assert "请先撤回" in again.json()["detail"]
    again = client.post("/api/v1/monitoring/shared-feeds", headers=headers,
                        json={"request_id": request_id, "feed": "civil_affairs", "division": COUNTY})
    assert again.status_code == 409
    assert f"(#{r.json()['id']}); withdraw that one" in again.json()["detail"]
    owner = db.get_one(User, world.owner.user_id)
    r = client.post("/api/v1/monitoring/shared-feeds", headers=bearer(owner),
                    json={"request_id": request_id, "feed": "civil_affairs", "division": COUNTY})
    assert r.status_code in (403, 404)
    assert [s["request_id"] for s in client.get("/api/v1/monitoring/shared-feeds", headers=headers).json()] == [
        request_id]
    # the newest version of the grant's period arrives at once
    assert jobs.run_pending(jobs.JobContext.build(database, settings), HANDLERS) == 2
    listed = client.get(f"/api/v1/monitoring/feeds?feed=civil_affairs&division={COUNTY}", headers=headers).json()
    assert [(v["via"], v["sharing_request_id"], v["rejected"]) for v in listed] == [("sharing", request_id, 1)]
    log = client.get("/api/v1/sharing/accesses", headers=bearer(owner)).json()
    assert [(a["kind"], a["request_id"]) for a in log] == [("feed", request_id)]


def test_the_feeds_page_offers_the_grant_and_says_how_each_version_came(  # type: ignore[no-untyped-def]
        client, db: Session, database: Database, settings: Settings, make: Factories) -> None:
    from tests.registry.helpers import sign_in

    world = build(db, make)
    short = grant(db, world, settings, fields=["household_id", "head_resident_id", "assistance"])
    request_id = grant(db, world, settings)
    publish(db, world, settings, civil_csv(simple_rows()))
    db.flush()
    csrf = sign_in(client, db.get_one(User, world.receiver.user_id))
    page = client.get("/monitoring/feeds")
    assert page.status_code == 200
    assert 'id="receive-grant"' in page.text
    assert f'<option value="{request_id}"' in page.text
    refused = client.post("/monitoring/feeds/shared", data={
        "csrf_token": csrf, "request_id": str(short), "feed": "civil_affairs", "division": COUNTY})
    assert refused.status_code == 422
    assert "该授权未包含数据源" in refused.text
    done = client.post("/monitoring/feeds/shared", data={
        "csrf_token": csrf, "request_id": str(request_id), "feed": "civil_affairs", "division": COUNTY},
        follow_redirects=False)
    assert done.status_code == 303, done.text
    jobs.run_pending(jobs.JobContext.build(database, settings), HANDLERS)
    page = client.get("/monitoring/feeds")
    assert f'<a href="/sharing/requests/{request_id}">' in page.text
    assert "提供方第 1 版" in page.text
    assert f'<option value="{request_id}"' not in page.text  # received: no longer offered


# --- withdrawing a declaration ------------------------------------------------------------------

def declared_and_delivered(db: Session, database: Database, settings: Settings,
                           make: Factories) -> tuple[World, int, SharedFeed, jobs.JobContext]:
    """A grant declared by the bureau's caseworker, through which version 1 has arrived."""
    world = build(db, make)
    request_id = grant(db, world, settings)
    declared = shared_feeds.receive_grant(db, world.receiver, request_id, "civil_affairs", COUNTY)
    publish(db, world, settings, civil_csv(simple_rows(), bad=0))
    db.flush()
    context = jobs.JobContext.build(database, settings)
    assert jobs.run_pending(context, HANDLERS) == 2
    return world, request_id, declared, context

def test_a_withdrawn_feed_takes_in_nothing_more_and_keeps_what_came(db: Session, database: Database,
                                                                    settings: Settings, make: Factories) -> None:
    world, request_id, declared, context = declared_and_delivered(db, database, settings, make)
    # a version published before the withdrawal whose delivery has not run yet
    publish(db, world, settings, civil_csv(simple_rows(2), bad=0), dt.date(YEAR, 7, 31))
    db.flush()
    # who may not declare it may not withdraw it: another county's user of the bureau, the owner
    bureau = db.get_one(Organisation, world.receiver.org_id)
    elsewhere = make.actor(make.user(organisation=bureau, org_role="member", jurisdiction="520102"))
    with pytest.raises(PermissionDenied):
        shared_feeds.withdraw(db, elsewhere, declared.id, "不再需要")
    with pytest.raises(NotFound):
        shared_feeds.withdraw(db, world.owner, declared.id, "不再需要")
    with pytest.raises(InvalidInput) as empty:
        shared_feeds.withdraw(db, world.receiver, declared.id, "  ")
    assert empty.value.code == "reason_required"
    assert "原因" in empty.value.render("zh")
    row = shared_feeds.withdraw(db, world.receiver, declared.id, "改为直接上传")
    assert row.withdrawn_at is not None
    assert (row.withdrawn_by, row.withdraw_reason) == (world.receiver.user_id, "改为直接上传")
    assert row.withdrawn_by_label == world.receiver.display_name
    audited = db.scalars(select(AuditEvent).where(AuditEvent.action == "monitoring.shared_feed.withdrawn")).all()
    assert [(a.target_id, a.actor_user_id) for a in audited] == [(str(declared.id), world.receiver.user_id)]
    # kept as history, not deleted
    assert [(r.id, r.withdrawn_at is not None) for r in shared_feeds.shared_feeds(db, world.receiver)] == [
        (declared.id, True)]
    # a second withdrawal says who withdrew it and when, in both languages
    with pytest.raises(Conflict) as again:
        shared_feeds.withdraw(db, world.admin, declared.id, "重复")
    assert again.value.code == "feed_withdrawn"
    assert world.receiver.display_name in again.value.render("zh")
    assert "已由" in again.value.render("zh")
    assert "already withdrawn" in again.value.render("en")
    # the delivery queued before the withdrawal takes nothing, and a version published now queues none
    assert jobs.run_pending(context, HANDLERS) == 1
    publish(db, world, settings, civil_csv(simple_rows(1), bad=0), dt.date(YEAR, 8, 31))
    db.flush()
    assert jobs.run_pending(context, HANDLERS) == 0
    uploads = db.scalars(select(FeedUpload).where(FeedUpload.sharing_request_id == request_id)).all()
    assert [(u.status, u.sharing_file_version) for u in uploads] == [("stored", 1)]
    # what came before stays, and a run reads it
    kept = feeds.current_versions(db, YEAR, COUNTY)["civil_affairs"]
    assert [(v.version, v.rows_accepted, v.sharing_request_id) for v in kept] == [(1, 3, request_id)]
    assert [a.file_id for a in service.access_log(db, world.owner)] == [uploads[0].sharing_file_id]
    # the grant's owner is told, in its organisation's inbox, naming the feed, the division and why
    [note] = inbox.inbox(db, world.owner, capability="monitoring")
    assert (note.org_id, note.user_id, note.subject_type, note.subject_id, note.link) == (
        world.owner.org_id, None, "sharing_request", request_id, f"/sharing/requests/{request_id}")
    zh, en = inbox.render(note, "zh"), inbox.render(note, "en")
    assert zh == (f"丹寨县乡村振兴局 撤回了经贵单位共享授权 #{request_id}（社会救助对象信息）接收的 丹寨县 "
                  "监测数据源 低保与特困（民政），原因：改为直接上传")
    assert en == (f"{bureau.name_en} withdrew the monitoring feed Minimum living allowance and special hardship "
                  f"(civil affairs) of 丹寨县 it received through your grant #{request_id} "
                  "(Social assistance recipients): 改为直接上传")
    assert inbox.inbox(db, world.receiver, capability="monitoring") == []
    # withdrawn, the grant is offered again
    assert request_id in [g for g, _ in shared_feeds.receivable_grants(db, world.receiver)]


def test_a_withdrawn_grant_is_declared_again_and_only_the_new_declaration_receives(
        db: Session, database: Database, settings: Settings, make: Factories) -> None:
    world, request_id, first, context = declared_and_delivered(db, database, settings, make)
    # while it is in force, declaring the grant again is 409, in both languages, naming the one in force
    with pytest.raises(Conflict) as taken:
        shared_feeds.receive_grant(db, world.admin, request_id, "civil_affairs", COUNTY)
    assert (taken.value.code, taken.value.field) == ("already_received", "request_id")
    assert f"（#{first.id}）；如需重新声明，请先撤回该数据源" in taken.value.render("zh")
    assert f"(#{first.id}); withdraw that one to declare the grant again" in taken.value.render("en")
    shared_feeds.withdraw(db, world.receiver, first.id, "误操作")
    # a version published while withdrawn queues nothing; declared again, it arrives through the new one
    publish(db, world, settings, civil_csv(simple_rows(2), bad=0), dt.date(YEAR, 7, 31))
    db.flush()
    assert jobs.run_pending(context, HANDLERS) == 0
    assert request_id in [g for g, _ in shared_feeds.receivable_grants(db, world.receiver)]
    second = shared_feeds.receive_grant(db, world.admin, request_id, "civil_affairs", COUNTY)
    assert second.id != first.id
    assert second.withdrawn_at is None
    assert request_id not in [g for g, _ in shared_feeds.receivable_grants(db, world.receiver)]
    assert jobs.run_pending(context, HANDLERS) == 2
    # a later version is queued for the new declaration only
    publish(db, world, settings, civil_csv(simple_rows(1), bad=0), dt.date(YEAR, 8, 31))
    db.flush()
    queued = db.scalars(select(jobs.Job).where(jobs.Job.kind == shared_feeds.JOB_KIND,
                                               jobs.Job.status == "queued")).all()
    assert [j.payload["shared_feed_id"] for j in queued] == [second.id]
    assert jobs.run_pending(context, HANDLERS) == 2
    uploads = db.scalars(select(FeedUpload).where(FeedUpload.sharing_request_id == request_id)
                         .order_by(FeedUpload.id)).all()
    assert [(u.status, u.sharing_file_version, u.uploaded_by) for u in uploads] == [
        ("stored", 1, world.receiver.user_id), ("stored", 2, world.admin.user_id),
        ("stored", 3, world.admin.user_id)]
    # the withdrawn one stays withdrawn, as history; a third declaration is refused while the second holds
    assert [(r.id, r.withdrawn_at is not None) for r in shared_feeds.shared_feeds(db, world.receiver)] == [
        (first.id, True), (second.id, False)]
    with pytest.raises(Conflict) as taken:
        shared_feeds.receive_grant(db, world.receiver, request_id, "civil_affairs", COUNTY)
    assert f"#{second.id}" in taken.value.render("en")


def test_two_declarations_of_one_grant_at_once_one_applies_the_other_is_409(isolated_database: Database,
                                                                            settings: Settings) -> None:
    """Both pass the check before either inserts (the check is made to answer "none" to both); the
    unique index refuses the second, which is told 409 ``already_received`` like a declaration made
    after the first. On PostgreSQL the two run at once; SQLite's writers take turns (BEGIN
    IMMEDIATE), so there the second runs after the first, its check still answering "none"."""
    with isolated_database.unit_of_work() as db:
        world = build(db, Factories(db))
        request_id = grant(db, world, settings)
    at_once = isolated_database.engine.dialect.name == "postgresql"
    barrier = threading.Barrier(2 if at_once else 1)
    outcomes: list[Any] = [None, None]
    real_scalar = Session.scalar

    def declare(i: int) -> None:
        actor = (world.receiver, world.admin)[i]
        try:
            with isolated_database.unit_of_work() as db:
                def scalar(statement: Any, *args: Any, **kwargs: Any) -> Any:
                    found = real_scalar(db, statement, *args, **kwargs)
                    if "monitoring_shared_feeds" in str(statement) and "withdrawn_at IS NULL" in str(statement):
                        barrier.wait(10)  # both have looked, neither has inserted
                        return None
                    return found

                db.scalar = scalar  # type: ignore[method-assign]
                outcomes[i] = shared_feeds.receive_grant(db, actor, request_id, "civil_affairs", COUNTY).id
        except Exception as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=declare, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
        if not at_once:
            t.join(60)
    for t in threads:
        t.join(60)
    won = [o for o in outcomes if isinstance(o, int)]
    lost = [o for o in outcomes if isinstance(o, Conflict)]
    assert (len(won), len(lost)) == (1, 1), outcomes
    assert lost[0].code == "already_received"
    assert f"(#{won[0]}); withdraw that one" in lost[0].render("en")
    with isolated_database.unit_of_work(write=False) as db:
        assert db.scalars(select(SharedFeed.id).where(SharedFeed.request_id == request_id)).all() == won


def test_the_api_and_the_page_withdraw_a_feed_and_show_who_and_when(  # type: ignore[no-untyped-def]
        client, db: Session, settings: Settings, make: Factories, bearer) -> None:
    from tests.registry.helpers import sign_in

    world = build(db, make)
    first = shared_feeds.receive_grant(db, world.receiver, grant(db, world, settings), "civil_affairs", COUNTY)
    second = shared_feeds.receive_grant(db, world.receiver, grant(db, world, settings), "civil_affairs", COUNTY)
    db.flush()
    receiver = db.get_one(User, world.receiver.user_id)
    headers = {**bearer(receiver), "Accept-Language": "en"}
    empty = client.post(f"/api/v1/monitoring/shared-feeds/{first.id}/withdraw", headers=headers, json={"reason": ""})
    assert empty.status_code == 422
    assert empty.json()["field"] == "reason"
    owner = db.get_one(User, world.owner.user_id)
    r = client.post(f"/api/v1/monitoring/shared-feeds/{first.id}/withdraw", headers=bearer(owner),
                    json={"reason": "x"})
    assert r.status_code == 404
    r = client.post(f"/api/v1/monitoring/shared-feeds/{first.id}/withdraw", headers=headers,
                    json={"reason": "核对结束"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["withdrawn_by"], r.json()["withdraw_reason"]) == (
        "withdrawn", receiver.id, "核对结束")
    again = client.post(f"/api/v1/monitoring/shared-feeds/{first.id}/withdraw",
                        headers={**headers, "Accept-Language": "zh"}, json={"reason": "再次"})
    assert again.status_code == 409
    assert again.json()["code"] == "feed_withdrawn"
    assert "已由" in again.json()["detail"]
    listed = client.get("/api/v1/monitoring/shared-feeds", headers=headers).json()
    assert [(s["id"], s["status"]) for s in listed] == [(first.id, "withdrawn"), (second.id, "receiving")]
    # the portal: the withdrawn one says so, with who; the other offers the withdrawal, which asks why
    csrf = sign_in(client, receiver)
    page = client.get("/monitoring/feeds")
    assert page.status_code == 200
    assert "已撤回" in page.text
    assert receiver.display_name in page.text
    assert f'id="withdraw-shared-{first.id}"' not in page.text
    assert f'id="withdraw-shared-{second.id}"' in page.text
    refused = client.post(f"/monitoring/feeds/shared/{second.id}/withdraw", data={"csrf_token": csrf, "reason": ""})
    assert refused.status_code == 422
    assert 'id="form-errors"' in refused.text
    assert f'id="withdraw-shared-{second.id}"' in refused.text  # nothing withdrawn: offered again
    done = client.post(f"/monitoring/feeds/shared/{second.id}/withdraw",
                       data={"csrf_token": csrf, "reason": "改为上传"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    page = client.get("/monitoring/feeds")
    assert f'id="withdraw-shared-{second.id}"' not in page.text
    assert "改为上传" in page.text
    client.cookies.set(LANG_COOKIE, "en")
    page = client.get("/monitoring/feeds")
    assert "Withdrawn" in page.text
    assert "已撤回" not in page.text


@pytest.mark.slow
def test_two_withdrawals_at_once_over_http_one_applies_the_other_is_told(isolated_database: Database,
                                                                         tmp_path: Path) -> None:
    """Two users who may declare it withdraw the same feed at the same moment, over real HTTP (real
    commits): one applies, the other gets 409 ``feed_withdrawn`` in its language; one audit row."""
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False)
    rounds = []
    with isolated_database.unit_of_work() as db:
        world = build(db, Factories(db))
        tokens = []
        for actor in (world.receiver, world.admin):
            user = db.get_one(User, actor.user_id)
            tokens.append(accounts.create_token(db, accounts.actor_for(user, via="api", ip=None),
                                                TokenIn(name="t", scopes=["read", "write"]))[1])
        for _ in range(2):
            rounds.append(shared_feeds.receive_grant(db, world.receiver, grant(db, world, settings), "civil_affairs",
                                                     COUNTY).id)
    with live_server(create_app(settings, database=isolated_database)) as url:
        for shared_feed_id, lang in zip(rounds, ("zh", "en"), strict=True):
            start = threading.Barrier(2)
            answers: list[Any] = [None, None]

            def withdraw(i: int, shared_feed_id: int = shared_feed_id, lang: str = lang,
                         start: threading.Barrier = start, answers: list[Any] = answers) -> None:
                with httpx.Client(base_url=url, timeout=60) as http:
                    start.wait()
                    answers[i] = http.post(f"/api/v1/monitoring/shared-feeds/{shared_feed_id}/withdraw",
                                           headers={"Authorization": f"Bearer {tokens[i]}", "Accept-Language": lang},
                                           json={"reason": f"user {i}"})

            threads = [threading.Thread(target=withdraw, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert sorted(a.status_code for a in answers) == [200, 409], [(a.status_code, a.text[:300])
                                                                           for a in answers]
            won = next(a for a in answers if a.status_code == 200).json()
            lost = next(a for a in answers if a.status_code == 409).json()
            assert lost["code"] == "feed_withdrawn"
            assert ("已由" if lang == "zh" else "already withdrawn") in lost["detail"]
            assert won["withdrawn_by_name"] in lost["detail"]
            with isolated_database.unit_of_work(write=False) as db:
                row = db.get_one(SharedFeed, shared_feed_id)
                assert row.withdraw_reason == won["withdraw_reason"]
                assert db.scalar(select(func.count()).select_from(AuditEvent).where(
                    AuditEvent.action == "monitoring.shared_feed.withdrawn",
                    AuditEvent.target_id == str(shared_feed_id))) == 1
