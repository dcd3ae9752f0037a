"""Durable background jobs with progress, safe against a process killed mid-job.

A job row is claimed with a conditional UPDATE (``status='queued'`` → ``running``), so two
workers never run the same job. A running job beats a heartbeat; at start-up and while
polling, a worker puts back jobs whose heartbeat went stale (their process died) until they
have used ``MAX_ATTEMPTS``, then fails them with a clear error and publishes ``job.crashed``
(``job_id``, ``kind``, ``payload``) so that the capability can settle what waited on the job.
Handlers must therefore be idempotent: re-running a job after a crash must finish it or fail
it cleanly.

Handlers come from each capability's ``jobs`` module: ``HANDLERS = {"kind": handler}``, a
handler being ``handler(database, job_id, progress)``; it owns its own transactions. The same
module may list ``PERIODIC = {"name": (seconds, task)}``, ``task(database, settings)``, which
the in-process worker runs at that interval.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import JSON, Index, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from qianshu.core import events
from qianshu.core.db import Base, Database
from qianshu.core.errors import QianshuError
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
STALE_AFTER = timedelta(seconds=60)
JOB_STATUSES = ("queued", "running", "succeeded", "failed")


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
    attempts: Mapped[int] = mapped_column(default=0)
    org_id: Mapped[int | None] = mapped_column(index=True)
    created_by: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]


class Progress(Protocol):
    def __call__(self, fraction: float, stage: str = "") -> None: ...


Handler = Callable[[Database, int, Progress], None]
Periodic = Callable[[Database, Settings], object]


def enqueue(db: Session, kind: str, payload: dict[str, Any], *, org_id: int | None = None,
            created_by: int | None = None) -> Job:
    job = Job(kind=kind, payload=payload, org_id=org_id, created_by=created_by)
    db.add(job)
    db.flush()
    return job


def requeue_stale(database: Database, now: datetime | None = None) -> int:
    """Put back jobs whose worker died; fail those that have crashed too often."""
    now = now or utcnow()
    with database.unit_of_work() as db:
        stale = list(db.scalars(select(Job).where(Job.status == "running",
                                                  Job.heartbeat_at < now - STALE_AFTER)))
        for job in stale:
            if job.attempts >= MAX_ATTEMPTS:
                job.status, job.finished_at = "failed", now
                job.error_code = "job_crashed"
                job.error_message = "The job stopped unexpectedly too many times."
                # The capability whose job it was settles what waited on it, in this transaction.
                events.publish(db, "job.crashed", job_id=job.id, kind=job.kind, payload=dict(job.payload or {}))
            else:
                job.status = "queued"
        return len(stale)


def claim_next(database: Database, kinds: Mapping[str, Handler]) -> int | None:
    with database.unit_of_work() as db:
        candidate = db.scalar(select(Job.id).where(Job.status == "queued", Job.kind.in_(list(kinds)))
                              .order_by(Job.id).limit(1))
        if candidate is None:
            return None
        now = utcnow()
        claimed = db.execute(
            update(Job).where(Job.id == candidate, Job.status == "queued")
            .values(status="running", started_at=now, heartbeat_at=now, attempts=Job.attempts + 1)
        ).rowcount  # type: ignore[attr-defined]
        return candidate if claimed == 1 else None


def run_job(database: Database, job_id: int, handler: Handler) -> None:
    def progress(fraction: float, stage: str = "") -> None:
        with database.unit_of_work() as db:
            db.execute(update(Job).where(Job.id == job_id).values(
                progress=max(0.0, min(1.0, fraction)), stage=stage[:80], heartbeat_at=utcnow()))

    try:
        handler(database, job_id, progress)
    except QianshuError as exc:
        _finish(database, job_id, "failed", exc.code, exc.bilingual())
    except Exception as exc:  # a handler bug must not kill the worker; it is logged and shown
        log.exception("job %s failed", job_id)
        _finish(database, job_id, "failed", "internal", f"{type(exc).__name__}: {exc}"[:2000])
    else:
        _finish(database, job_id, "succeeded", "", "")


def _finish(database: Database, job_id: int, status: str, code: str, message: str) -> None:
    with database.unit_of_work() as db:
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error_code": code,
                                  "error_message": message}
        if status == "succeeded":
            values["progress"] = 1.0
        db.execute(update(Job).where(Job.id == job_id).values(**values))


def _queued(database: Database, handlers: Mapping[str, Handler]) -> bool:
    with database.unit_of_work(write=False) as db:
        query = select(Job.id).where(Job.status == "queued", Job.kind.in_(list(handlers))).limit(1)
        return db.scalar(query) is not None


def run_one(database: Database, handlers: Mapping[str, Handler]) -> bool:
    """Claim and run the next queued job; False when none could be claimed."""
    job_id = claim_next(database, handlers)
    if job_id is None:
        return False
    with database.unit_of_work(write=False) as db:
        kind = db.get_one(Job, job_id).kind
    run_job(database, job_id, handlers[kind])
    return True


def run_pending(database: Database, handlers: Mapping[str, Handler]) -> int:
    """Run queued jobs until none is left (the CLI and tests call this)."""
    done = 0
    while run_one(database, handlers) or _queued(database, handlers):  # a lost claim race: others remain
        done += 1
    return done


class Worker(threading.Thread):
    """An in-process worker thread for ``qianshu serve``; several processes may each run one.

    Besides queued jobs it runs ``periodic`` tasks (name → (interval in seconds, task)), such as
    issuing the certificates whose public notice has ended. Every worker process runs them, so a
    task must be safe to run twice at once (conditional updates, unique constraints).
    """

    def __init__(self, database: Database, handlers: Mapping[str, Handler], poll_seconds: float = 1.0,
                 periodic: Mapping[str, tuple[float, Periodic]] | None = None, settings: Settings | None = None,
                 *, stagger: bool = True):
        super().__init__(name="qianshu-jobs", daemon=True)
        self.database, self.handlers, self.poll_seconds = database, handlers, poll_seconds
        self.periodic, self.settings = dict(periodic or {}), settings
        # Staggered first runs: worker processes started together do not all run a task at once.
        now = time.monotonic()
        self._next_run = {name: now + random.uniform(0, interval) if stagger else 0.0  # noqa: S311 - not security
                          for name, (interval, _task) in self.periodic.items()}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                # One job at a time, so that a long queue does not hold up stale jobs or periodic tasks.
                requeue_stale(self.database)
                self.run_periodic()
                if not run_one(self.database, self.handlers) and not _queued(self.database, self.handlers):
                    self._stop_event.wait(self.poll_seconds)
            except Exception:  # keep the worker alive through a transient database error
                log.exception("job worker loop")
                self._stop_event.wait(self.poll_seconds)

    def run_periodic(self, now: float | None = None) -> list[str]:
        """Run the periodic tasks that are due; returns their names."""
        now = time.monotonic() if now is None else now
        ran = []
        for name, (interval, task) in self.periodic.items():
            if now < self._next_run[name] or self.settings is None:
                continue
            self._next_run[name] = now + interval
            try:
                task(self.database, self.settings)
            except Exception:  # one failing task must not stop the others or the jobs
                log.exception("periodic task %s", name)
            ran.append(name)
        return ran

    def stop(self) -> None:
        self._stop_event.set()
