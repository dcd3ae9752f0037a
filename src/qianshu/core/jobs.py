"""Durable background jobs with progress, run several at once, safe against a process killed mid-job.

A job row is claimed inside one transaction: on PostgreSQL with ``SELECT ... FOR UPDATE SKIP
LOCKED`` (workers on several machines each take a different row without waiting for each
other), on SQLite with a conditional UPDATE (``status='queued'`` → ``running``; SQLite has one
writer). Either way two workers never run the same job. A running job beats a heartbeat (its
progress reports, and its worker every few seconds); a worker puts back jobs whose heartbeat
went stale (their process died) until they have used ``MAX_ATTEMPTS``, then fails them with a
clear error and publishes ``job.crashed`` (``job_id``, ``kind``, ``payload``) so that the
capability can settle what waited on the job. Handlers must therefore be idempotent: re-running
a job after a crash must finish it or fail it cleanly.

Handlers are declared in the capabilities' manifests (``jobs={"kind": "module:handler"}`` or
``JobKind(handler=..., concurrency=N)``); a handler is ``handler(context, job_id, progress)``
where ``context`` is a :class:`JobContext` (database, settings, blob store): payloads carry ids
(of rows, of blobs), never paths. A handler owns its own transactions.

A :class:`Worker` runs jobs on a pool of threads (``worker_threads``) with at most
``concurrency`` jobs of one kind at once in the process, and the periodic tasks on a schedule
thread of their own, so a long job never delays them. A periodic task runs once per interval
across all processes: its next due time is a row of ``periodic_runs``, claimed by a conditional
UPDATE.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from sqlalchemy import JSON, Index, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.exc import StaleDataError

from qianshu.core import events
from qianshu.core.blobs import BlobStore, open_blob_store
from qianshu.core.db import Base, Database
from qianshu.core.errors import QianshuError
from qianshu.core.settings import Settings
from qianshu.core.threads import JOB_NICENESS, lower_this_thread
from qianshu.core.timeutil import utcnow

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
STALE_AFTER = timedelta(seconds=60)  # the default of the ``worker_stale_seconds`` setting
HEARTBEAT_BEATS_PER_STALE = 4  # a worker beats four times per stale interval: its live jobs never look stale
JOB_STATUSES = ("queued", "running", "succeeded", "failed")
CRASHED_MESSAGE = "The job stopped unexpectedly too many times."


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(default=0.0)
    stage: Mapped[str] = mapped_column(String(80), default="")
    error_code: Mapped[str] = mapped_column(String(60), default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
    # The error as a message id and its parameters, so that it can be shown in the reader's
    # language ({"message": ..., "params": {...}}); None for an internal error (a traceback's text).
    error_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(default=0)
    org_id: Mapped[int | None] = mapped_column(index=True)
    created_by: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]


class PeriodicRun(Base):
    """When a periodic task is next due, shared by every worker process."""

    __tablename__ = "periodic_runs"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    next_run_at: Mapped[datetime]
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")


@dataclass(frozen=True)
class JobCrashed(events.Event):
    """A job failed because its workers kept dying (``MAX_ATTEMPTS`` stale heartbeats)."""

    name: ClassVar[str] = "job.crashed"
    job_id: int
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class JobRetried(events.Event):
    """An operator put a failed job back in the queue."""

    name: ClassVar[str] = "job.retried"
    job_id: int
    kind: str
    payload: dict[str, Any]


class Progress(Protocol):
    def __call__(self, fraction: float, stage: str = "") -> None: ...


@dataclass(frozen=True)
class JobContext:
    """What a handler works with: the database, the settings and the one blob store."""

    database: Database
    settings: Settings
    blobs: BlobStore

    @classmethod
    def build(cls, database: Database, settings: Settings) -> JobContext:
        return cls(database, settings, open_blob_store(settings))


Handler = Callable[[JobContext, int, Progress], None]
Periodic = Callable[[Database, Settings], object]


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    attempt: int


def enqueue(db: Session, kind: str, payload: dict[str, Any], *, org_id: int | None = None,
            created_by: int | None = None) -> Job:
    job = Job(kind=kind, payload=payload, org_id=org_id, created_by=created_by)
    db.add(job)
    db.flush()
    return job


def requeue_stale(database: Database, now: datetime | None = None, stale_after: timedelta = STALE_AFTER) -> int:
    """Put back jobs whose worker died (no heartbeat for ``stale_after``); fail those that have
    crashed too often."""
    now = now or utcnow()
    with database.unit_of_work() as db:
        query = select(Job).where(Job.status == "running", Job.heartbeat_at < now - stale_after)
        if not database.is_sqlite:  # two workers sweeping at once settle each job once
            query = query.with_for_update(skip_locked=True)
        stale = list(db.scalars(query))
        for job in stale:
            if job.attempts >= MAX_ATTEMPTS:
                job.status, job.finished_at = "failed", now
                job.error_code = "job_crashed"
                job.error_message = CRASHED_MESSAGE
                job.error_detail = {"message": CRASHED_MESSAGE, "params": {}}
                # The capability whose job it was settles what waited on it, in this transaction.
                events.publish(db, JobCrashed(job_id=job.id, kind=job.kind, payload=dict(job.payload or {})))
            else:
                job.status = "queued"
        return len(stale)


def claim(database: Database, kinds: Mapping[str, object] | list[str]) -> Claimed | None:
    """Take the oldest queued job of one of ``kinds`` for this worker, or None."""
    wanted = list(kinds)
    if not wanted:
        return None
    with database.unit_of_work() as db:
        query = select(Job.id).where(Job.status == "queued", Job.kind.in_(wanted)).order_by(Job.id).limit(1)
        if not database.is_sqlite:
            # The row stays locked until commit; other workers skip it and take the next one.
            query = query.with_for_update(skip_locked=True)
        candidate = db.scalar(query)
        if candidate is None:
            return None
        now = utcnow()
        row = db.execute(
            update(Job).where(Job.id == candidate, Job.status == "queued")
            .values(status="running", started_at=now, heartbeat_at=now, finished_at=None,
                    attempts=Job.attempts + 1)
            .returning(Job.kind, Job.attempts)
        ).first()
        return Claimed(candidate, row[0], row[1]) if row is not None else None


def claim_next(database: Database, kinds: Mapping[str, object] | list[str]) -> int | None:
    claimed = claim(database, kinds)
    return claimed.id if claimed else None


def _this_run(job_id: int, attempt: int | None) -> Any:
    """The job's row while this run still owns it: a run whose job was put back and claimed
    again (a stale heartbeat, a stopping worker) must not overwrite the newer run."""
    condition = Job.id == job_id
    if attempt is not None:
        condition = condition & (Job.attempts == attempt) & (Job.status == "running")
    return condition


def run_job(context: JobContext, job_id: int, handler: Handler, attempt: int | None = None) -> None:
    database = context.database

    def progress(fraction: float, stage: str = "") -> None:
        with database.unit_of_work() as db:
            db.execute(update(Job).where(_this_run(job_id, attempt)).values(
                progress=max(0.0, min(1.0, fraction)), stage=stage[:80], heartbeat_at=utcnow()))

    try:
        handler(context, job_id, progress)
    except QianshuError as exc:
        _finish(database, job_id, attempt, "failed", exc.code, exc.bilingual(),
                {"message": exc.message, "params": _jsonable(exc.params)})
    except Exception as exc:  # a handler bug must not kill the worker; it is logged and shown
        log.exception("job %s failed", job_id)
        _finish(database, job_id, attempt, "failed", "internal", f"{type(exc).__name__}: {exc}"[:2000], None)
    else:
        _finish(database, job_id, attempt, "succeeded", "", "", None)


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (str, int, float, bool)) or v is None else str(v) for k, v in params.items()}


def _finish(database: Database, job_id: int, attempt: int | None, status: str, code: str, message: str,
            detail: dict[str, Any] | None) -> None:
    with database.unit_of_work() as db:
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error_code": code,
                                  "error_message": message, "error_detail": detail}
        if status == "succeeded":
            values["progress"] = 1.0
        db.execute(update(Job).where(_this_run(job_id, attempt)).values(**values))


def release(database: Database, job_id: int, attempt: int) -> bool:
    """Give a job this worker will not finish back to the queue (a stop, not a crash: the attempt
    is not counted)."""
    with database.unit_of_work() as db:
        result = db.execute(update(Job).where(_this_run(job_id, attempt)).values(
            status="queued", attempts=Job.attempts - 1, stage="", heartbeat_at=None))
        return bool(result.rowcount)  # type: ignore[attr-defined]


def beat(database: Database, job_ids: list[int]) -> None:
    if job_ids:
        with database.unit_of_work() as db:
            db.execute(update(Job).where(Job.id.in_(job_ids), Job.status == "running").values(heartbeat_at=utcnow()))


def retry(db: Session, job_id: int) -> Job | None:
    """Put a failed job back in the queue with fresh attempts (None if it is not failed now:
    a conditional update, so of two operators retrying at once one wins). Publishes
    ``job.retried`` so that the capability can reopen what the failure settled."""
    result = db.execute(update(Job).where(Job.id == job_id, Job.status == "failed").values(
        status="queued", attempts=0, progress=0.0, stage="", error_code="", error_message="", error_detail=None,
        started_at=None, finished_at=None, heartbeat_at=None))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    job = db.get_one(Job, job_id)
    db.refresh(job)
    events.publish(db, JobRetried(job_id=job.id, kind=job.kind, payload=dict(job.payload or {})))
    return job


def each_in_its_own_transaction(database: Database, ids: list[int], work: Callable[[Session, int], object],
                                what: str) -> int:
    """Run ``work(db, id)`` for each id in a write transaction of its own, for periodic tasks: one that
    fails (decided, closed or changed meanwhile by another process) is logged and left for the next
    run, and does not hold up the others. Returns how many succeeded."""
    done = 0
    for item in ids:
        try:
            with database.unit_of_work() as db:
                work(db, item)
            done += 1
        except (QianshuError, IntegrityError, StaleDataError) as exc:
            log.info("%s %s not done: %s", what, item, exc)
    return done


def _queued(database: Database, kinds: Mapping[str, object] | list[str]) -> bool:
    with database.unit_of_work(write=False) as db:
        query = select(Job.id).where(Job.status == "queued", Job.kind.in_(list(kinds))).limit(1)
        return db.scalar(query) is not None


def run_one(context: JobContext, handlers: Mapping[str, Handler]) -> bool:
    """Claim and run the next queued job here and now; False when none could be claimed."""
    claimed = claim(context.database, handlers)
    if claimed is None:
        return False
    run_job(context, claimed.id, handlers[claimed.kind], claimed.attempt)
    return True


def run_pending(context: JobContext, handlers: Mapping[str, Handler]) -> int:
    """Run queued jobs one after the other until none is left (the CLI, the demo and tests)."""
    done = 0
    while run_one(context, handlers) or _queued(context.database, handlers):  # a lost claim race: others remain
        done += 1
    return done


# --- periodic tasks: once per interval across every process ------------------------------------

def _ensure_periodic_row(database: Database, name: str, now: datetime) -> None:
    with database.unit_of_work(write=False) as db:
        if db.get(PeriodicRun, name) is not None:
            return
    try:
        with database.unit_of_work() as db:
            if db.get(PeriodicRun, name) is None:
                db.add(PeriodicRun(name=name, next_run_at=now, last_error=""))
    except IntegrityError:  # another process added it first
        pass


def claim_periodic(database: Database, name: str, interval: float,
                   now: datetime | None = None) -> tuple[bool, datetime]:
    """Claim this interval's run of a periodic task (True for exactly one process per interval),
    and say when it is next due."""
    now = now or utcnow()
    _ensure_periodic_row(database, name, now)
    with database.unit_of_work() as db:
        result = db.execute(update(PeriodicRun).where(PeriodicRun.name == name, PeriodicRun.next_run_at <= now)
                            .values(next_run_at=now + timedelta(seconds=interval), last_started_at=now))
        claimed = result.rowcount == 1  # type: ignore[attr-defined]
        due = db.scalar(select(PeriodicRun.next_run_at).where(PeriodicRun.name == name))
        return claimed, due or now + timedelta(seconds=interval)


def _finish_periodic(database: Database, name: str, error: str) -> None:
    with database.unit_of_work() as db:
        db.execute(update(PeriodicRun).where(PeriodicRun.name == name)
                   .values(last_finished_at=utcnow(), last_error=error[:2000]))


def run_periodic(context: JobContext, periodic: Mapping[str, tuple[float, Periodic]],
                 now: datetime | None = None, due: dict[str, datetime] | None = None) -> list[str]:
    """Run the periodic tasks that are due and that this process claimed; returns their names.

    ``due`` remembers when each task is next due (as the database said), so that a worker asks
    the database only when a task may be due, not on every pass."""
    now = now or utcnow()
    due = {} if due is None else due
    ran = []
    for name, (interval, task) in periodic.items():
        if name in due and now < due[name]:
            continue
        try:
            claimed, due[name] = claim_periodic(context.database, name, interval, now)
        except Exception:  # a database hiccup: try again on the next pass
            log.exception("claiming periodic task %s", name)
            continue
        if not claimed:
            continue
        error = ""
        try:
            task(context.database, context.settings)
        except Exception as exc:  # one failing task must not stop the others or the jobs
            log.exception("periodic task %s", name)
            error = f"{type(exc).__name__}: {exc}"
        try:
            _finish_periodic(context.database, name, error)
        except Exception:
            log.exception("recording periodic task %s", name)
        ran.append(name)
    return ran


# --- the worker -----------------------------------------------------------------------------------

class Worker:
    """Runs queued jobs on ``threads`` threads and periodic tasks on a schedule thread of its own.

    ``concurrency`` limits how many jobs of one kind this process runs at once (a kind without a
    limit may use every thread). ``qianshu worker`` runs one per process; ``qianshu serve`` runs
    one inside each web process when ``run_jobs_in_process`` is true. ``stop()`` stops claiming,
    lets running jobs finish for ``grace_seconds`` and gives the others back to the queue.
    """

    def __init__(self, context: JobContext, handlers: Mapping[str, Handler], *, threads: int = 4,
                 concurrency: Mapping[str, int] | None = None,
                 periodic: Mapping[str, tuple[float, Periodic]] | None = None,
                 poll_seconds: float = 1.0, grace_seconds: float = 30.0, periodic_after: float = 0.0,
                 stale_after: timedelta = STALE_AFTER) -> None:
        self.context, self.handlers = context, dict(handlers)
        self.stale_after = stale_after
        # A worker inside a web process that has just started lets its first requests go first.
        self._periodic_from = time.monotonic() + periodic_after
        self.threads = max(1, threads)
        self.limits = {kind: max(1, min(self.threads, (concurrency or {}).get(kind, self.threads)))
                       for kind in self.handlers}
        self.periodic = dict(periodic or {})
        self.poll_seconds, self.grace_seconds = poll_seconds, grace_seconds
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._running: dict[int, Claimed] = {}
        self._claiming = False
        self._stopping = threading.Event()
        self._tasks: queue.Queue[Claimed | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._due: dict[str, datetime] = {}  # periodic task → when the database says it is next due

    @property
    def database(self) -> Database:
        return self.context.database

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._dispatch, name="qianshu-jobs-dispatch", daemon=True),
                         threading.Thread(target=self._schedule, name="qianshu-jobs-schedule", daemon=True)]
        self._threads += [threading.Thread(target=self._run, name=f"qianshu-job-{n}", daemon=True)
                          for n in range(self.threads)]
        for thread in self._threads:
            thread.start()

    def is_alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def running(self) -> dict[str, int]:
        """Jobs running in this worker now, by kind."""
        with self._lock:
            counts: dict[str, int] = {}
            for job in self._running.values():
                counts[job.kind] = counts.get(job.kind, 0) + 1
            return counts

    def stop(self, grace_seconds: float | None = None) -> list[int]:
        """Stop claiming; wait up to ``grace_seconds`` for running jobs; give back the rest
        (returned). Safe to call twice."""
        grace = self.grace_seconds if grace_seconds is None else grace_seconds
        with self._changed:  # under the lock: a claim in flight is either seen below or given back
            self._stopping.set()
            self._changed.notify_all()
            # A claim in flight has marked its job running in the database already: wait for it to
            # be registered (a claim is one short transaction), so that it is finished or given back
            # and reported like the others.
            while self._claiming:
                self._changed.wait(0.2)
            deadline = time.monotonic() + grace
            while self._running and time.monotonic() < deadline:
                self._changed.wait(max(0.0, min(0.2, deadline - time.monotonic())))
            unfinished = list(self._running.values())
        released = []
        for job in unfinished:
            try:
                if release(self.database, job.id, job.attempt):
                    released.append(job.id)
                    log.warning("job %s (%s) given back to the queue: the worker stopped", job.id, job.kind)
            except Exception:  # the database is gone: the heartbeat goes stale and another worker takes it
                log.exception("releasing job %s", job.id)
        for _ in range(self.threads):
            self._tasks.put(None)
        return released

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def _free_kinds(self) -> list[str]:
        if len(self._running) >= self.threads:
            return []
        counts: dict[str, int] = {}
        for job in self._running.values():
            counts[job.kind] = counts.get(job.kind, 0) + 1
        return [kind for kind, limit in self.limits.items() if counts.get(kind, 0) < limit]

    def _dispatch(self) -> None:
        lower_this_thread(JOB_NICENESS)
        while not self._stopping.is_set():
            with self._changed:
                if self._stopping.is_set():
                    return
                kinds = self._free_kinds()
                if not kinds:  # every thread (or every kind's share) is busy: wait for one to end
                    self._changed.wait(self.poll_seconds)
                    continue
                self._claiming = True  # stop() waits for this claim to be registered
            try:
                claimed = claim(self.database, kinds)
            except Exception:  # keep the worker alive through a transient database error
                log.exception("claiming a job")
                claimed = None
            with self._changed:
                self._claiming = False
                if claimed is not None:  # registered even when stopping: stop() gives it back
                    self._running[claimed.id] = claimed
                stopping = self._stopping.is_set()
                self._changed.notify_all()
            if claimed is None:
                self._stopping.wait(self.poll_seconds)
                continue
            if stopping:  # claimed while stop() began: not started; stop() gives it back
                return
            self._tasks.put(claimed)

    def _run(self) -> None:
        lower_this_thread(JOB_NICENESS)  # requests first (core/threads.py)
        while True:
            claimed = self._tasks.get()
            if claimed is None:
                return
            try:
                run_job(self.context, claimed.id, self.handlers[claimed.kind], claimed.attempt)
            except Exception:  # _finish itself failed (database gone): the heartbeat will go stale
                log.exception("job %s", claimed.id)
            finally:
                with self._changed:
                    self._running.pop(claimed.id, None)
                    self._changed.notify_all()

    def _schedule(self) -> None:
        lower_this_thread(JOB_NICENESS)  # periodic tasks are background work too
        last_beat = 0.0
        while not self._stopping.is_set():
            try:
                if time.monotonic() - last_beat >= self.stale_after.total_seconds() / HEARTBEAT_BEATS_PER_STALE:
                    with self._lock:
                        mine = list(self._running)
                    beat(self.database, mine)
                    requeue_stale(self.database, stale_after=self.stale_after)
                    last_beat = time.monotonic()
                if time.monotonic() >= self._periodic_from:
                    run_periodic(self.context, self.periodic, due=self._due)
            except Exception:  # keep the schedule alive through a transient database error
                log.exception("job worker schedule")
            self._stopping.wait(self._next_wake())

    def _next_wake(self) -> float:
        """Seconds until a periodic task is due, at most ``poll_seconds``."""
        if not self._due:
            return self.poll_seconds
        soonest = (min(self._due.values()) - utcnow()).total_seconds()
        return max(0.01, min(self.poll_seconds, soonest))
