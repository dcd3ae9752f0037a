"""Two decisions on one request at once (the owner's two clerks): exactly one is applied, the
other gets a 409 in both languages. Two revocations of a grant at once; a revocation while a
download is under way (it waits; nothing is served after it). Real commits: a database of its own (SQLite, or PostgreSQL
with QIANSHU_TEST_DATABASE_URL)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

from qianshu.core.audit import AuditEvent
from qianshu.core.errors import Conflict
from qianshu.core.inbox import Notification
from qianshu.sharing import grants, schemas, service
from qianshu.sharing.models import SharingAccess, SharingRequest
from tests.factories import Factories
from tests.sharing.conftest import ask, build_world


def test_two_decisions_at_once_one_wins(isolated_database, settings) -> None:  # type: ignore[no-untyped-def]
    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        world = build_world(db, make)
        request_id = ask(db, make, world.other, settings, world.conditional).id
        owner = make.actor(world.owner)
    decisions = [schemas.DecisionIn(decision="approve"),
                 schemas.DecisionIn(decision="reject", reason="不符合条件")]
    outcomes: list[Any] = [None, None]
    barrier = threading.Barrier(2)

    def decide(i: int) -> None:
        barrier.wait()
        try:
            with isolated_database.unit_of_work() as db:
                outcomes[i] = service.decide_request(db, owner, request_id, decisions[i]).status
        except Conflict as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    won = [o for o in outcomes if isinstance(o, str)]
    lost = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(won) == 1, outcomes
    assert len(lost) == 1, outcomes
    assert lost[0].status == 409
    assert lost[0].code == "request_already_decided"
    assert "already" in lost[0].render("en")
    assert "已" in lost[0].render("zh")
    with isolated_database.unit_of_work(write=False) as db:
        assert db.get_one(SharingRequest, request_id).status == won[0]


def _sandbox_grant(database: Any, settings: Any) -> tuple[int, int, Any, Any]:
    import datetime as dt

    from qianshu.core.blobs import open_blob_store

    with database.unit_of_work() as db:
        make = Factories(db)
        world = build_world(db, make)
        owner = make.actor(world.owner)
        file = service.upload_file(db, owner, open_blob_store(settings), settings, world.conditional, "a.csv",
                                   [b"resident_id,assistance\n520102199000000001,dibao\n"], dt.date(2026, 3, 1))
        row = ask(db, make, world.other, settings, world.conditional)
        service.decide_request(db, owner, row.id, schemas.DecisionIn(decision="approve"))
        return row.id, file.id, owner, make.actor(world.other)


def test_two_revocations_at_once_one_applies(isolated_database, settings) -> None:  # type: ignore[no-untyped-def]
    request_id, _file_id, owner, _grantee = _sandbox_grant(isolated_database, settings)
    outcomes: list[Any] = [None, None]
    barrier = threading.Barrier(2)

    def revoke(i: int) -> None:
        barrier.wait()
        try:
            with isolated_database.unit_of_work() as db:
                row = service.load_request(db, owner, request_id, "sharing.grant.revoke")
                outcomes[i] = grants.revoke(db, owner, row, f"理由 {i}").end_reason
        except Conflict as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=revoke, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    won = [o for o in outcomes if isinstance(o, str)]
    lost = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(won) == 1, outcomes
    assert len(lost) == 1, outcomes
    assert lost[0].code == "grant_not_active"
    assert "已撤销" in lost[0].render("zh")
    assert "already revoked" in lost[0].render("en")
    with isolated_database.unit_of_work(write=False) as db:
        row = db.get_one(SharingRequest, request_id)
        assert (row.status, row.end_reason) == ("revoked", won[0])
        revoked = db.scalars(select(AuditEvent).where(AuditEvent.action == "sharing.grant.revoked")).all()
        assert len(revoked) == 1
        assert len(db.scalars(select(Notification).where(Notification.subject_id == request_id,
                                                         Notification.message == grants.REVOKED)).all()) == 1


def test_a_revocation_waits_for_a_download_under_way_and_stops_the_next(isolated_database, settings) -> None:  # type: ignore[no-untyped-def]
    from qianshu.core.blobs import open_blob_store

    request_id, file_id, owner, grantee = _sandbox_grant(isolated_database, settings)
    blobs = open_blob_store(settings)
    downloaded, release = threading.Event(), threading.Event()
    revoked_at: list[float] = []
    download_committed: list[float] = []

    def download() -> None:
        with isolated_database.unit_of_work() as db:
            service.download(db, grantee, blobs, request_id, file_id)
            downloaded.set()
            release.wait(10)  # the body is still being sent: the transaction is open
        download_committed.append(time.monotonic())

    def revoke() -> None:
        downloaded.wait(10)
        with isolated_database.unit_of_work() as db:
            row = service.load_request(db, owner, request_id, "sharing.grant.revoke")
            grants.revoke(db, owner, row, "停止共享")
        revoked_at.append(time.monotonic())

    a, b = threading.Thread(target=download), threading.Thread(target=revoke)
    a.start()
    b.start()
    assert downloaded.wait(10)
    time.sleep(0.5)
    assert not revoked_at  # the revocation waits for the download under way
    release.set()
    a.join(30)
    b.join(30)
    assert revoked_at
    assert download_committed
    assert revoked_at[0] >= download_committed[0]
    with pytest.raises(Conflict) as err, isolated_database.unit_of_work() as db:
        service.download(db, grantee, blobs, request_id, file_id)
    assert err.value.code == "not_granted"
    with isolated_database.unit_of_work(write=False) as db:
        accesses = db.scalars(select(SharingAccess).where(SharingAccess.request_id == request_id)).all()
        assert len(accesses) == 1  # the download served is logged; the refused one is not
        row = db.get_one(SharingRequest, request_id)
        assert row.status == "revoked"
        assert row.ended_at is not None
        assert accesses[0].at <= row.ended_at


def test_downloads_racing_a_revocation_are_each_served_and_logged_or_refused(isolated_database, settings) -> None:  # type: ignore[no-untyped-def]
    from qianshu.core.blobs import open_blob_store

    request_id, file_id, owner, grantee = _sandbox_grant(isolated_database, settings)
    blobs = open_blob_store(settings)
    barrier = threading.Barrier(5)
    served: list[int] = []
    refused: list[Conflict] = []

    def download() -> None:
        barrier.wait()
        for _ in range(3):
            try:
                with isolated_database.unit_of_work() as db:
                    service.download(db, grantee, blobs, request_id, file_id)
                served.append(1)
            except Conflict as exc:
                refused.append(exc)

    def revoke() -> None:
        barrier.wait()
        with isolated_database.unit_of_work() as db:
            grants.revoke(db, owner, service.load_request(db, owner, request_id, "sharing.grant.revoke"), "停止")

    threads = [threading.Thread(target=download) for _ in range(4)] + [threading.Thread(target=revoke)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(served) + len(refused) == 12
    assert all(e.code == "not_granted" for e in refused)
    with isolated_database.unit_of_work(write=False) as db:
        accesses = db.scalars(select(SharingAccess).where(SharingAccess.request_id == request_id)).all()
        row = db.get_one(SharingRequest, request_id)
        assert len(accesses) == len(served)
        assert row.ended_at is not None
        assert all(a.at <= row.ended_at for a in accesses)


def test_a_download_answers_while_another_writer_commits_during_its_read(  # type: ignore[no-untyped-def]
        isolated_database, settings, monkeypatch) -> None:
    """A GET that writes (the access log, the audit row, the grant's last use) opens a write
    transaction from the start: on SQLite a read transaction cannot become a write one once another
    writer has committed since it began (503 "database busy" at once, whatever the busy timeout).
    Here another connection commits between the download's first read and its writes: the
    download still answers 200 and is logged (on SQLite the other writer waits for it)."""
    from fastapi.testclient import TestClient

    from qianshu.accounts import service as accounts
    from qianshu.accounts.schemas import TokenIn
    from qianshu.core.inbox import notify
    from qianshu.web.app import create_app

    request_id, file_id, owner, grantee = _sandbox_grant(isolated_database, settings)
    with isolated_database.unit_of_work() as db:
        _token, raw = accounts.create_token(db, grantee, TokenIn(name="t", scopes=["read", "write"]))
    read_begun, other_wrote = threading.Event(), threading.Event()
    loaded = service._grant

    def grant_then_pause(db: Any, actor: Any, rid: int) -> Any:
        row = loaded(db, actor, rid)  # the request's transaction has read
        read_begun.set()
        other_wrote.wait(3)  # on SQLite the other writer waits for this transaction: not forever
        resumed.append(time.monotonic())
        return row

    monkeypatch.setattr(service, "_grant", grant_then_pause)
    committed: list[float] = []
    resumed: list[float] = []

    def other_writer() -> None:
        assert read_begun.wait(30)
        with isolated_database.unit_of_work() as db:
            notify(db, "sharing", "Another writer", org_id=owner.org_id)
        committed.append(time.monotonic())
        other_wrote.set()

    writer = threading.Thread(target=other_writer)
    writer.start()
    with TestClient(create_app(settings, database=isolated_database)) as client:
        got = client.get(f"/api/v1/sharing/requests/{request_id}/files/{file_id}",
                         headers={"Authorization": f"Bearer {raw}"})
    writer.join(30)
    assert got.status_code == 200, got.text
    assert got.text.startswith("resident_id")
    assert committed  # the other writer was not lost either
    if isolated_database.is_sqlite:  # the download held the write lock from its first read on
        assert committed[0] >= resumed[0]
    with isolated_database.unit_of_work(write=False) as db:
        assert len(db.scalars(select(SharingAccess).where(SharingAccess.request_id == request_id)).all()) == 1
