"""Background jobs: claimed once, run once, failures recorded, crashed jobs put back or failed."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from qianshu.core.db import Database
from qianshu.core.errors import InvalidInput, NotFound
from qianshu.core.jobs import (
    MAX_ATTEMPTS,
    STALE_AFTER,
    Job,
    Progress,
    Worker,
    claim_next,
    enqueue,
    requeue_stale,
    run_job,
    run_pending,
)
from qianshu.core.timeutil import utcnow


def noop(database: Database, job_id: int, progress: Progress) -> None:
    progress(0.5, "halfway")


def fetch(database: Database, job_id: int) -> Job:
    with database.unit_of_work(write=False) as s:
        return s.get_one(Job, job_id)


def add_job(database: Database, kind: str = "test.noop", **values: object) -> int:
    with database.unit_of_work() as s:
        job = enqueue(s, kind, {"n": 1}, org_id=None, created_by=None)
        for name, value in values.items():
            setattr(job, name, value)
        s.flush()
        return job.id


def test_enqueue_creates_a_queued_job(db: Session) -> None:
    job = enqueue(db, "test.noop", {"dataset": 7, "名称": "黔"}, org_id=None, created_by=None)
    assert job.id is not None
    db.expire_all()
    stored = db.get_one(Job, job.id)
    assert (stored.status, stored.attempts, stored.progress) == ("queued", 0, 0.0)
    assert stored.payload == {"dataset": 7, "名称": "黔"}
    assert stored.created_at.tzinfo is not None


def test_claim_marks_running_and_counts_the_attempt(database: Database) -> None:
    first, second = add_job(database), add_job(database)
    add_job(database, kind="other.kind")
    assert claim_next(database, {"test.noop": noop}) == first
    job = fetch(database, first)
    assert job.status == "running"
    assert job.attempts == 1
    assert job.started_at is not None
    assert job.heartbeat_at is not None
    assert claim_next(database, {"test.noop": noop}) == second
    assert claim_next(database, {"test.noop": noop}) is None  # other kinds are not ours


def test_run_job_succeeds_with_full_progress(database: Database) -> None:
    seen: list[int] = []

    def handler(db: Database, job_id: int, progress: Progress) -> None:
        seen.append(job_id)
        progress(0.25, "reading")
        assert fetch(db, job_id).stage == "reading"

    job_id = add_job(database)
    assert claim_next(database, {"test.noop": handler}) == job_id
    run_job(database, job_id, handler)
    job = fetch(database, job_id)
    assert seen == [job_id]
    assert (job.status, job.progress, job.error_code, job.error_message) == ("succeeded", 1.0, "", "")
    assert job.finished_at is not None


@pytest.mark.parametrize(("fraction", "stored"), [(-0.5, 0.0), (0.3, 0.3), (7.0, 1.0)])
def test_progress_is_clamped_and_stage_truncated(database: Database, fraction: float, stored: float) -> None:
    def handler(db: Database, job_id: int, progress: Progress) -> None:
        progress(fraction, "阶段" * 100)
        raise NotFound("Not found.")

    job_id = add_job(database)
    run_job(database, job_id, handler)
    job = fetch(database, job_id)
    assert job.progress == pytest.approx(stored)
    assert job.stage == ("阶段" * 100)[:80]


def test_a_domain_error_fails_the_job_with_its_code(database: Database) -> None:
    def handler(db: Database, job_id: int, progress: Progress) -> None:
        raise NotFound("Not found.")

    job_id = add_job(database)
    run_job(database, job_id, handler)
    job = fetch(database, job_id)
    assert (job.status, job.error_code, job.error_message) == ("failed", "not_found", "未找到。 / Not found.")
    assert job.finished_at is not None


def test_a_domain_error_message_keeps_its_parameters(database: Database) -> None:
    def handler(db: Database, job_id: int, progress: Progress) -> None:
        raise InvalidInput("{field}: {reason}", field="amount", reason="is too large")

    job_id = add_job(database)
    run_job(database, job_id, handler)
    job = fetch(database, job_id)
    assert job.error_code == "invalid_input"
    assert "amount" in job.error_message
    assert "is too large" in job.error_message


def test_any_other_exception_fails_the_job_as_internal(database: Database,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    def handler(db: Database, job_id: int, progress: Progress) -> None:
        raise ValueError("x" * 5000)

    job_id = add_job(database)
    run_job(database, job_id, handler)  # does not raise
    job = fetch(database, job_id)
    assert (job.status, job.error_code) == ("failed", "internal")
    assert job.error_message.startswith("ValueError: xxx")
    assert len(job.error_message) == 2000
    assert f"job {job_id} failed" in caplog.text


def test_run_pending_runs_every_queued_job_of_known_kinds(database: Database) -> None:
    ran: list[int] = []

    def handler(db: Database, job_id: int, progress: Progress) -> None:
        ran.append(job_id)
        if len(ran) == 2:
            raise RuntimeError("the second one breaks")

    ids = [add_job(database) for _ in range(3)]
    foreign = add_job(database, kind="someone.else")
    assert run_pending(database, {"test.noop": handler}) == 3
    assert ran == ids
    assert [fetch(database, i).status for i in ids] == ["succeeded", "failed", "succeeded"]
    assert fetch(database, foreign).status == "queued"
    assert run_pending(database, {"test.noop": handler}) == 0


def test_a_stale_running_job_is_requeued_and_a_fresh_one_is_left_alone(database: Database) -> None:
    now = utcnow()
    stale = add_job(database, status="running", attempts=1, heartbeat_at=now - STALE_AFTER - timedelta(seconds=1))
    fresh = add_job(database, status="running", attempts=1, heartbeat_at=now - timedelta(seconds=5))
    done = add_job(database, status="succeeded", attempts=1, heartbeat_at=now - timedelta(hours=1))
    assert requeue_stale(database, now=now) == 1
    assert fetch(database, stale).status == "queued"
    assert fetch(database, fresh).status == "running"
    assert fetch(database, done).status == "succeeded"
    assert claim_next(database, {"test.noop": noop}) == stale
    assert fetch(database, stale).attempts == 2


def test_a_job_that_keeps_crashing_is_failed_as_job_crashed(database: Database) -> None:
    job_id = add_job(database)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert claim_next(database, {"test.noop": noop}) == job_id  # ...and the process dies
        assert fetch(database, job_id).attempts == attempt
        assert requeue_stale(database, now=utcnow() + 2 * STALE_AFTER) == 1
    job = fetch(database, job_id)
    assert (job.status, job.error_code) == ("failed", "job_crashed")
    assert job.error_message
    assert job.finished_at is not None
    assert claim_next(database, {"test.noop": noop}) is None


def test_two_claimers_never_claim_the_same_job(isolated_database: Database) -> None:
    job_count, thread_count = 24, 6
    ids = {add_job(isolated_database) for _ in range(job_count)}
    claimed: list[list[int]] = [[] for _ in range(thread_count)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(thread_count)

    def claimer(index: int) -> None:
        try:
            barrier.wait()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                job_id = claim_next(isolated_database, {"test.noop": noop})
                if job_id is not None:
                    claimed[index].append(job_id)
                    continue
                with isolated_database.unit_of_work(write=False) as s:
                    left = s.scalar(select(func.count()).select_from(Job).where(Job.status == "queued"))
                if not left:
                    return
        except BaseException as exc:  # report in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(thread_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    everything = [job_id for per_thread in claimed for job_id in per_thread]
    assert sorted(everything) == sorted(ids)  # each job claimed exactly once
    with isolated_database.unit_of_work(write=False) as s:
        assert set(s.scalars(select(Job.attempts))) == {1}
        assert set(s.scalars(select(Job.status))) == {"running"}


def test_worker_survives_a_broken_handler_and_keeps_working(isolated_database: Database,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    def broken(db: Database, job_id: int, progress: Progress) -> None:
        raise ZeroDivisionError("division by zero")

    handlers = {"test.broken": broken, "test.noop": noop}
    broken_id = add_job(isolated_database, kind="test.broken")
    first_ok = add_job(isolated_database)
    worker = Worker(isolated_database, handlers, poll_seconds=0.02)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while fetch(isolated_database, first_ok).status != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.02)
        later_ok = add_job(isolated_database)  # picked up after an idle poll
        while fetch(isolated_database, later_ok).status != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert worker.is_alive()
    finally:
        worker.stop()
        worker.join(timeout=5)
    assert not worker.is_alive()
    broken_job = fetch(isolated_database, broken_id)
    assert (broken_job.status, broken_job.error_code) == ("failed", "internal")
    assert broken_job.error_message == "ZeroDivisionError: division by zero"
    assert fetch(isolated_database, first_ok).status == "succeeded"
    assert fetch(isolated_database, later_ok).status == "succeeded"


def test_worker_puts_back_a_job_left_running_by_a_dead_process(isolated_database: Database) -> None:
    job_id = add_job(isolated_database)
    with isolated_database.unit_of_work() as s:
        s.execute(update(Job).where(Job.id == job_id).values(
            status="running", attempts=1, heartbeat_at=utcnow() - 2 * STALE_AFTER))
    worker = Worker(isolated_database, {"test.noop": noop}, poll_seconds=0.02)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while fetch(isolated_database, job_id).status != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
        worker.join(timeout=5)
    job = fetch(isolated_database, job_id)
    assert (job.status, job.attempts) == ("succeeded", 2)


def test_periodic_tasks_run_at_their_interval_and_survive_each_other(database: Database, settings) -> None:  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def broken(_database: Database, _settings: object) -> None:
        calls.append("broken")
        raise RuntimeError("a bug in one task")

    def fine(_database: Database, _settings: object) -> None:
        calls.append("fine")

    worker = Worker(database, {}, periodic={"broken": (60.0, broken), "fine": (10.0, fine)}, settings=settings,
                    stagger=False)
    assert worker.run_periodic(now=1000.0) == ["broken", "fine"]
    assert worker.run_periodic(now=1005.0) == []
    assert worker.run_periodic(now=1011.0) == ["fine"]
    assert worker.run_periodic(now=1061.0) == ["broken", "fine"]
    assert calls == ["broken", "fine", "fine", "broken", "fine"]


def test_a_long_queue_does_not_hold_up_periodic_tasks(isolated_database: Database, settings) -> None:  # type: ignore[no-untyped-def]
    ticks: list[float] = []

    def slow(db: Database, job_id: int, progress: Progress) -> None:
        time.sleep(0.15)

    jobs = [add_job(isolated_database, kind="test.slow") for _ in range(6)]
    worker = Worker(isolated_database, {"test.slow": slow}, poll_seconds=0.02, settings=settings, stagger=False,
                    periodic={"tick": (0.1, lambda _db, _settings: ticks.append(time.monotonic()))})
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while fetch(isolated_database, jobs[-1]).status != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
        worker.join(timeout=5)
    assert fetch(isolated_database, jobs[-1]).status == "succeeded"
    assert len(ticks) >= 4  # between the jobs, not only once the queue was empty
