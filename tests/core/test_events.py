"""Typed events: delivered after commit by default, inside the transaction only when a subscriber
must write in it; never delivered when the transaction rolls back."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from sqlalchemy import select

from qianshu import capabilities
from qianshu.core import events, jobs
from qianshu.core.db import Database
from qianshu.core.events import DELIVERY_JOB, Event, Subscriber, deliver_event_job, publish
from qianshu.core.jobs import Job, JobContext
from qianshu.core.settings import Settings


@dataclass(frozen=True)
class Pinged(Event):
    name: ClassVar[str] = "test.pinged"
    job_id: int
    note: str = ""


@dataclass(frozen=True)
class Impostor(Event):
    name: ClassVar[str] = "test.pinged"
    job_id: int


def _subscribe(monkeypatch: pytest.MonkeyPatch, *subscribers: tuple[Callable[..., None], bool]) -> None:
    """Plant subscribers to ``test.pinged`` beside the manifests' real table."""
    types, table = capabilities.event_types(), dict(capabilities.subscribers())
    types = {**types, Pinged.name: Pinged}
    table[Pinged.name] = [Subscriber("test", f"tests.core.test_events:{handler.__name__}", handler, in_transaction)
                          for handler, in_transaction in subscribers]
    monkeypatch.setattr(events, "_table", lambda: (types, table))


def _publish_then_fail(database: Database, event: Event, check: Callable[[Any], None] = lambda _db: None) -> None:
    with database.unit_of_work() as db:
        publish(db, event)
        check(db)
        raise RuntimeError("the change fails")


def _kinds(database: Database, kind: str) -> list[Job]:
    with database.unit_of_work(write=False) as db:
        return list(db.scalars(select(Job).where(Job.kind == kind)))


def test_an_event_is_not_delivered_when_the_transaction_rolls_back(
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def after(_database: Database, event: Pinged) -> None:
        seen.append(event.job_id)

    _subscribe(monkeypatch, (after, False))
    with pytest.raises(RuntimeError, match="the change fails"):
        _publish_then_fail(database, Pinged(job_id=1))
    assert seen == []
    with database.unit_of_work() as db:
        savepoint = db.begin_nested()
        publish(db, Pinged(job_id=2))  # published in a savepoint that is rolled back
        savepoint.rollback()
        publish(db, Pinged(job_id=3))
        assert seen == []  # not before the commit
    assert seen == [3]


def test_an_event_published_in_a_released_savepoint_waits_for_the_outer_commit(
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The idempotent routes run their work in a savepoint: releasing it commits nothing yet."""
    seen: list[int] = []

    def after(_database: Database, event: Pinged) -> None:
        seen.append(event.job_id)

    _subscribe(monkeypatch, (after, False))
    with database.unit_of_work() as db:
        with db.begin_nested():
            publish(db, Pinged(job_id=4))
        assert seen == []  # the savepoint is released, the transaction still open
    assert seen == [4]  # delivered once, after the commit

    def released_then_failed() -> None:
        with database.unit_of_work() as db:
            with db.begin_nested():
                publish(db, Pinged(job_id=5))
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError, match="the change fails"):
        released_then_failed()
    assert seen == [4]  # released, then the whole transaction rolled back: never delivered


def test_an_after_commit_subscriber_sees_committed_data(
        isolated_database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a database of its own, so the subscriber's own transaction can see only what was committed."""
    seen: list[str] = []

    def after(database: Database, event: Pinged) -> None:
        with database.unit_of_work(write=False) as db:
            job = db.get(Job, event.job_id)
            seen.append(job.kind if job is not None else "missing")

    _subscribe(monkeypatch, (after, False))
    with isolated_database.unit_of_work() as db:
        job = jobs.enqueue(db, "test.written", {})
        publish(db, Pinged(job_id=job.id))
    assert seen == ["test.written"]


def test_an_in_transaction_subscriber_writes_in_the_transaction_and_rolls_back_with_it(
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    def inside(db: Any, event: Pinged) -> None:
        jobs.enqueue(db, "test.consequence", {"of": event.job_id})

    _subscribe(monkeypatch, (inside, True))
    written: list[object] = []
    with pytest.raises(RuntimeError, match="the change fails"):
        _publish_then_fail(database, Pinged(job_id=7), lambda db: written.append(
            db.scalar(select(Job.payload).where(Job.kind == "test.consequence"))))
    assert written == [{"of": 7}]  # written at once, in the transaction
    assert _kinds(database, "test.consequence") == []
    with database.unit_of_work() as db:
        publish(db, Pinged(job_id=8))
    assert [j.payload for j in _kinds(database, "test.consequence")] == [{"of": 8}]


def test_a_failing_after_commit_subscriber_keeps_the_commit_is_logged_and_retried_as_a_job(
        database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    def flaky(_database: Database, event: Pinged) -> None:
        calls.append(event.note)
        if len(calls) == 1:
            raise RuntimeError("the mail server is down")

    _subscribe(monkeypatch, (flaky, False))
    with caplog.at_level(logging.ERROR, logger="qianshu.core.events"), database.unit_of_work() as db:
        job = jobs.enqueue(db, "test.kept", {})
        publish(db, Pinged(job_id=job.id, note="hello"))
    assert [j.id for j in _kinds(database, "test.kept")] == [job.id]  # the commit stands
    assert any("tests.core.test_events:flaky" in r.getMessage() and "test.pinged" in r.getMessage()
               for r in caplog.records)
    [retry] = _kinds(database, DELIVERY_JOB)
    assert retry.payload == {"event": "test.pinged", "data": {"job_id": job.id, "note": "hello"},
                             "subscriber": "tests.core.test_events:flaky"}
    assert capabilities.job_handlers()[DELIVERY_JOB] is deliver_event_job  # every worker runs it
    jobs.run_pending(JobContext.build(database, settings), {DELIVERY_JOB: deliver_event_job})
    assert calls == ["hello", "hello"]
    assert [j.status for j in _kinds(database, DELIVERY_JOB)] == ["succeeded"]


def test_only_declared_events_of_the_declared_class_are_published(
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    _subscribe(monkeypatch)
    with database.unit_of_work() as db:
        with pytest.raises(LookupError, match=r"listing\.sold"):
            publish(db, "listing.sold", listing_id=1)
        with pytest.raises(LookupError, match=r"another class"):
            publish(db, Impostor(job_id=1))
        publish(db, "test.pinged", job_id=1)  # by name: built as the declared class
        assert list(events.pending(db)) == []  # nobody subscribes after commit


def test_the_manifests_declare_typed_events() -> None:
    from qianshu.registry.events import RegistrationRevoked

    assert capabilities.event_types()["registration.revoked"] is RegistrationRevoked
    assert capabilities.declared_events()["job.crashed"] == "core"
    by_event = capabilities.subscribers()
    assert [(s.capability, s.in_transaction) for s in by_event["registration.revoked"]] == [("catalog", True),
                                                                                             ("finance", True)]
