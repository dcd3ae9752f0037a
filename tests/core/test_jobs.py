"""Background jobs: claimed once, run once, failures recorded, crashed jobs put back or failed."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from qianshu.core.db import Database
from qianshu.core.errors import InvalidInput, NotFound
from qianshu.core.jobs import (
    MAX_ATTEMPTS,
    STALE_AFTER,
    Handler,
    Job,
    JobContext,
    Periodic,
    PeriodicRun,
    Progress,
    Worker,
    claim_next,
    claim_periodic,
    enqueue,
    requeue_stale,
    run_job,
    run_pending,
    run_periodic,
)
from qianshu.core.settings import Settings
from qianshu.core.threads import JOB_NICENESS, START_NICENESS, lower_this_thread
from qianshu.core.timeutil import utcnow


def noop(context: JobContext, job_id: int, progress: Progress) -> None:
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


def test_run_job_succeeds_with_full_progress(database: Database, settings: Settings) -> None:
    seen: list[int] = []

    def handler(context: JobContext, job_id: int, progress: Progress) -> None:
        seen.append(job_id)
        progress(0.25, "reading")
        assert fetch(context.database, job_id).stage == "reading"

    job_id = add_job(database)
    assert claim_next(database, {"test.noop": handler}) == job_id
    run_job(JobContext.build(database, settings), job_id, handler)
    job = fetch(database, job_id)
    assert seen == [job_id]
    assert (job.status, job.progress, job.error_code, job.error_message) == ("succeeded", 1.0, "", "")
    assert job.finished_at is not None


@pytest.mark.parametrize(("fraction", "stored"), [(-0.5, 0.0), (0.3, 0.3), (7.0, 1.0)])
def test_progress_is_clamped_and_stage_truncated(database: Database, settings: Settings, fraction: float,
                                                  stored: float) -> None:
    def handler(context: JobContext, job_id: int, progress: Progress) -> None:
        progress(fraction, "阶段" * 100)
        raise NotFound("Not found.")

    job_id = add_job(database)
    run_job(JobContext.build(database, settings), job_id, handler)
    job = fetch(database, job_id)
    assert job.progress == pytest.approx(stored)
    assert job.stage == ("阶段" * 100)[:80]


def test_a_domain_error_fails_the_job_with_its_code(database: Database, settings: Settings) -> None:
    def handler(context: JobContext, job_id: int, progress: Progress) -> None:
        raise NotFound("Not found.")

    job_id = add_job(database)
    run_job(JobContext.build(database, settings), job_id, handler)
    job = fetch(database, job_id)
    assert (job.status, job.error_code, job.error_message) == ("failed", "not_found", "未找到。 / Not found.")
    assert job.finished_at is not None


def test_a_domain_error_message_keeps_its_parameters(database: Database, settings: Settings) -> None:
    def handler(context: JobContext, job_id: int, progress: Progress) -> None:
        raise InvalidInput("{field}: {reason}", field="amount", reason="is too large")

    job_id = add_job(database)
    run_job(JobContext.build(database, settings), job_id, handler)
    job = fetch(database, job_id)
    assert job.error_code == "invalid_input"
    assert "amount" in job.error_message
    assert "is too large" in job.error_message


def test_any_other_exception_fails_the_job_as_internal(database: Database, settings: Settings,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    def handler(context: JobContext, job_id: int, progress: Progress) -> None:
        raise ValueError("x" * 5000)

    job_id = add_job(database)
    run_job(JobContext.build(database, settings), job_id, handler)  # does not raise
    job = fetch(database, job_id)
    assert (job.status, job.error_code) == ("failed", "internal")
    assert job.error_message.startswith("ValueError: xxx")
    assert len(job.error_message) == 2000
    assert f"job {job_id} failed" in caplog.text


def test_run_pending_runs_every_queued_job_of_known_kinds(database: Database, settings: Settings) -> None:
    ran: list[int] = []

    def handler(context: JobContext, job_id: int, progress: Progress) -> None:
        ran.append(job_id)
        if len(ran) == 2:
            raise RuntimeError("the second one breaks")

    ids = [add_job(database) for _ in range(3)]
    foreign = add_job(database, kind="someone.else")
    assert run_pending(JobContext.build(database, settings), {"test.noop": handler}) == 3
    assert ran == ids
    assert [fetch(database, i).status for i in ids] == ["succeeded", "failed", "succeeded"]
    assert fetch(database, foreign).status == "queued"
    assert run_pending(JobContext.build(database, settings), {"test.noop": handler}) == 0


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


def test_a_worker_with_a_shorter_stale_setting_requeues_sooner(settings: Settings, database: Database) -> None:
    from qianshu.worker import build_worker

    now = utcnow()
    silent = add_job(database, status="running", attempts=1, heartbeat_at=now - timedelta(seconds=20))
    assert requeue_stale(database, now=now) == 0  # the default: 60 s of silence
    worker = build_worker(settings.model_copy(update={"worker_stale_seconds": 15}), database)
    assert worker.stale_after == timedelta(seconds=15)
    assert requeue_stale(database, now=now, stale_after=worker.stale_after) == 1
    assert fetch(database, silent).status == "queued"


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


def test_worker_survives_a_broken_handler_and_keeps_working(isolated_database: Database, settings: Settings,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    def broken(context: JobContext, job_id: int, progress: Progress) -> None:
        raise ZeroDivisionError("division by zero")

    handlers = {"test.broken": broken, "test.noop": noop}
    broken_id = add_job(isolated_database, kind="test.broken")
    first_ok = add_job(isolated_database)
    worker = Worker(JobContext.build(isolated_database, settings), handlers, poll_seconds=0.02)
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


def test_worker_puts_back_a_job_left_running_by_a_dead_process(isolated_database: Database,
                                                              settings: Settings) -> None:
    job_id = add_job(isolated_database)
    with isolated_database.unit_of_work() as s:
        s.execute(update(Job).where(Job.id == job_id).values(
            status="running", attempts=1, heartbeat_at=utcnow() - 2 * STALE_AFTER))
    worker = Worker(JobContext.build(isolated_database, settings), {"test.noop": noop}, poll_seconds=0.02)
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


def test_periodic_tasks_run_at_their_interval_and_survive_each_other(database: Database,
                                                                   settings: Settings) -> None:
    calls: list[str] = []

    def broken(_database: Database, _settings: object) -> None:
        calls.append("broken")
        raise RuntimeError("a bug in one task")

    def fine(_database: Database, _settings: object) -> None:
        calls.append("fine")

    context = JobContext.build(database, settings)
    periodic: dict[str, tuple[float, Periodic]] = {"broken": (60.0, broken), "fine": (10.0, fine)}
    start = utcnow()

    def at(seconds: float) -> list[str]:
        return run_periodic(context, periodic, now=start + timedelta(seconds=seconds))

    assert at(0) == ["broken", "fine"]
    assert at(5) == []
    assert at(11) == ["fine"]
    assert at(61) == ["broken", "fine"]
    assert calls == ["broken", "fine", "fine", "broken", "fine"]
    with database.unit_of_work(write=False) as s:
        runs = {r.name: r for r in s.scalars(select(PeriodicRun))}
    assert runs["broken"].last_error == "RuntimeError: a bug in one task"
    assert runs["fine"].last_error == ""
    assert runs["fine"].next_run_at == start + timedelta(seconds=71)


def test_a_long_queue_does_not_hold_up_periodic_tasks(isolated_database: Database, settings: Settings) -> None:
    ticks: list[float] = []
    starts: list[float] = []

    def slow(context: JobContext, job_id: int, progress: Progress) -> None:
        starts.append(time.monotonic())
        time.sleep(0.15)

    # One job thread, so the queue lasts at least 6 x 0.15 s whatever the machine; the ticks are
    # counted against when the last job started, not against a clock the machine's load can stretch.
    jobs = [add_job(isolated_database, kind="test.slow") for _ in range(6)]
    worker = Worker(JobContext.build(isolated_database, settings), {"test.slow": slow}, poll_seconds=0.02,
                    threads=1, periodic={"tick": (0.1, lambda _db, _settings: ticks.append(time.monotonic()))})
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while fetch(isolated_database, jobs[-1]).status != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
        worker.join(timeout=5)
    assert fetch(isolated_database, jobs[-1]).status == "succeeded"
    assert len(starts) == 6
    assert len([t for t in ticks if t < starts[-1]]) >= 3  # while jobs waited, not only once the queue was empty


def _wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_long_job_never_delays_periodic_work(isolated_database: Database, settings: Settings) -> None:
    """A registration-sized job holds a thread until it is released; the periodic task keeps its
    interval meanwhile (the old worker ran nothing else until the job ended)."""
    release = threading.Event()
    ticks: list[float] = []

    def long_job(context: JobContext, job_id: int, progress: Progress) -> None:
        release.wait(20)

    job_id = add_job(isolated_database, kind="test.long")
    worker = Worker(JobContext.build(isolated_database, settings), {"test.long": long_job}, poll_seconds=0.02,
                    periodic={"tick": (0.05, lambda _db, _settings: ticks.append(time.monotonic()))})
    worker.start()
    try:
        assert _wait_for(lambda: fetch(isolated_database, job_id).status == "running")
        before = len(ticks)
        # Five more runs while the job holds its thread (the old worker ran none until it ended).
        assert _wait_for(lambda: len(ticks) >= before + 5, 15), f"{len(ticks) - before} runs while the job ran"
        assert fetch(isolated_database, job_id).status == "running"  # still held
        release.set()
        assert _wait_for(lambda: fetch(isolated_database, job_id).status == "succeeded")
    finally:
        release.set()
        worker.stop()
        worker.join(timeout=5)


def test_jobs_run_at_once_within_each_kinds_limit(isolated_database: Database, settings: Settings) -> None:
    lock = threading.Lock()
    now_running: dict[str, int] = {"test.heavy": 0, "test.light": 0}
    most: dict[str, int] = {"test.heavy": 0, "test.light": 0}
    most_total = [0]

    def handler_for(kind: str) -> Handler:
        def handler(context: JobContext, job_id: int, progress: Progress) -> None:
            with lock:
                now_running[kind] += 1
                most[kind] = max(most[kind], now_running[kind])
                most_total[0] = max(most_total[0], sum(now_running.values()))
            time.sleep(0.15)
            with lock:
                now_running[kind] -= 1
        return handler

    ids = [add_job(isolated_database, kind=kind) for kind in ["test.heavy", "test.light"] * 4]
    worker = Worker(JobContext.build(isolated_database, settings),
                    {"test.heavy": handler_for("test.heavy"), "test.light": handler_for("test.light")},
                    threads=3, concurrency={"test.heavy": 1}, poll_seconds=0.02)
    worker.start()
    try:
        assert _wait_for(lambda: all(fetch(isolated_database, i).status == "succeeded" for i in ids))
    finally:
        worker.stop()
        worker.join(timeout=5)
    assert most["test.heavy"] == 1  # its limit
    assert most["test.light"] >= 2  # the other threads were used: jobs ran at once
    assert most_total[0] <= 3  # the worker's threads


def test_a_stopping_worker_gives_back_what_it_cannot_finish(isolated_database: Database,
                                                            settings: Settings) -> None:
    release = threading.Event()

    def long_job(context: JobContext, job_id: int, progress: Progress) -> None:
        release.wait(20)

    job_id = add_job(isolated_database, kind="test.long")
    worker = Worker(JobContext.build(isolated_database, settings), {"test.long": long_job}, poll_seconds=0.02)
    worker.start()
    assert _wait_for(lambda: fetch(isolated_database, job_id).status == "running")
    assert worker.stop(grace_seconds=0.1) == [job_id]
    job = fetch(isolated_database, job_id)
    assert (job.status, job.attempts) == ("queued", 0)  # a stop is not a crash
    release.set()  # the abandoned run ends late: it must not overwrite the queued job
    worker.join(timeout=5)
    time.sleep(0.05)
    assert fetch(isolated_database, job_id).status == "queued"
    assert run_pending(JobContext.build(isolated_database, settings), {"test.long": long_job}) == 1
    assert (fetch(isolated_database, job_id).status, fetch(isolated_database, job_id).attempts) == ("succeeded", 1)


def test_a_job_claimed_while_the_worker_stops_is_given_back_and_reported(
        isolated_database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The claim commits (the job shows as running) and only then does stop() begin: stop must
    wait for that claim and report the job it gives back, not leave it to the claiming thread."""
    from qianshu.core import jobs as jobs_module

    real_claim = jobs_module.claim
    holder: dict[str, Worker] = {}

    def slow_claim(database: Database, kinds: object) -> object:
        claimed = real_claim(database, kinds)  # type: ignore[arg-type]
        if claimed is not None:
            deadline = time.monotonic() + 10
            while not holder["worker"]._stopping.is_set() and time.monotonic() < deadline:
                time.sleep(0.01)
        return claimed

    monkeypatch.setattr(jobs_module, "claim", slow_claim)
    job_id = add_job(isolated_database, kind="test.long")
    worker = Worker(JobContext.build(isolated_database, settings), {"test.long": lambda *_: None}, poll_seconds=0.02)
    holder["worker"] = worker
    worker.start()
    assert _wait_for(lambda: fetch(isolated_database, job_id).status == "running")
    assert worker.stop(grace_seconds=0.1) == [job_id]
    worker.join(timeout=5)
    assert (fetch(isolated_database, job_id).status, fetch(isolated_database, job_id).attempts) == ("queued", 0)


def test_a_periodic_interval_is_claimed_by_exactly_one_of_many(isolated_database: Database) -> None:
    """Eight claimers (threads, each its own connection) at the same instant: one wins the interval."""
    now = utcnow()
    barrier = threading.Barrier(8)
    results: list[bool] = []
    errors: list[BaseException] = []

    def claimer() -> None:
        try:
            barrier.wait()
            results.append(claim_periodic(isolated_database, "test.tick", 60.0, now)[0])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claimer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert sorted(results) == [False] * 7 + [True]
    assert claim_periodic(isolated_database, "test.tick", 60.0, now + timedelta(seconds=59))[0] is False
    assert claim_periodic(isolated_database, "test.tick", 60.0, now + timedelta(seconds=60))[0] is True


def test_two_workers_never_run_the_same_job_or_periodic_task_in_one_interval(isolated_database: Database,
                                                                             settings: Settings) -> None:
    """Two worker processes' worth (each its own engine and pool of threads) on one database."""
    ran: list[int] = []
    ticks: list[datetime] = []
    lock = threading.Lock()

    def quick(context: JobContext, job_id: int, progress: Progress) -> None:
        with lock:
            ran.append(job_id)
        time.sleep(0.005)

    def tick(_db: Database, _settings: Settings) -> None:
        with lock:
            ticks.append(utcnow())

    ids = [add_job(isolated_database, kind="test.quick") for _ in range(40)]
    second = Database(isolated_database.url)
    workers = [Worker(JobContext.build(database, settings), {"test.quick": quick}, threads=3, poll_seconds=0.01,
                      periodic={"test.tick": (0.25, tick)}) for database in (isolated_database, second)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    try:
        assert _wait_for(lambda: all(fetch(isolated_database, i).status == "succeeded" for i in ids), 20)
        time.sleep(1.0)
    finally:
        for worker in workers:
            worker.stop()
            worker.join(timeout=5)
        elapsed = time.monotonic() - started
        second.dispose()
    assert sorted(ran) == sorted(ids)  # every job ran, and exactly once
    # Each worker alone would run the task every 0.25 s; together they still run it once per interval.
    assert 2 <= len(ticks) <= elapsed / 0.25 + 1, (len(ticks), elapsed)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
def test_job_threads_run_at_a_lower_priority_than_requests() -> None:
    seen: list[int] = []
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())  # the suite may itself run under nice

    def job_thread() -> None:
        lower_this_thread(JOB_NICENESS)
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    thread = threading.Thread(target=job_thread)
    thread.start()
    thread.join()
    assert seen == [min(19, max(base, START_NICENESS + JOB_NICENESS))]  # lowered from the start, never raised
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # the rest untouched
