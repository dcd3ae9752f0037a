"""Several OS processes append at once (no gaps, no duplicates); a writer killed mid-append."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest
from sqlalchemy import func, select

import qianshu.models  # noqa: F401 - every table, so foreign keys resolve in the child processes
from qianshu.core.audit import AuditEvent
from qianshu.core.db import Database
from qianshu.translog import service
from qianshu.translog.models import LogEntry
from qianshu.translog.verify import verify_log

WORKERS = 4
APPENDS = 25


def _append_many(url: str, worker: int, count: int) -> None:
    database = Database(url)
    try:
        for n in range(count):
            with database.unit_of_work() as db:
                service.append_event(db, "registration.issued", {"worker": worker, "n": n})
                if n % 5 == 0:  # mix in batches
                    service.append_events(db, [("registration.amended", {"worker": worker, "n": n, "k": k})
                                               for k in range(3)])
    finally:
        database.dispose()


def _append_until_killed(url: str) -> None:
    """Each transaction: one state row and its 2,000 leaves, so a kill lands mid-append."""
    database = Database(url)
    batch = 0
    while True:
        with database.unit_of_work() as db:
            db.add(AuditEvent(via="test", action="test.state", detail={"batch": batch}))
            service.append_events(db, [("registration.issued", {"batch": batch, "k": k}) for k in range(2000)])
            service.append_event(db, "registration.transferred", {"batch": batch})
        batch += 1


@pytest.mark.slow
def test_concurrent_processes_leave_no_gap_and_no_duplicate(isolated_database: Database) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_append_many, args=(isolated_database.url, w, APPENDS))
                 for w in range(WORKERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=240)
        assert process.exitcode == 0
    with isolated_database.unit_of_work(write=False) as db:
        entries = list(db.scalars(select(LogEntry).order_by(LogEntry.index)))
        expected = WORKERS * (APPENDS + 3 * len(range(0, APPENDS, 5)))
        assert [e.index for e in entries] == list(range(expected))
        keys = [tuple(sorted(e.document["payload"].items())) for e in entries]
        assert len(set(keys)) == expected  # every event exactly once
        report = verify_log(db, None)
        assert report.ok, report.problems


@pytest.mark.slow
def test_writer_killed_mid_append_leaves_the_log_consistent(isolated_database: Database) -> None:
    context = multiprocessing.get_context("spawn")
    for round_ in range(3):
        process = context.Process(target=_append_until_killed, args=(isolated_database.url,))
        process.start()
        deadline = time.monotonic() + 60
        with isolated_database.unit_of_work(write=False) as db:
            start = service.tree_size(db)
        while time.monotonic() < deadline:
            assert process.is_alive(), "the writer died on its own"
            with isolated_database.unit_of_work(write=False) as db:
                if service.tree_size(db) > start:
                    break
            time.sleep(0.05)
        time.sleep(0.05 + 0.07 * round_)
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        process.join(timeout=30)
    isolated_database.dispose()
    fresh = Database(isolated_database.url)
    try:
        with fresh.unit_of_work() as db:
            states = db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "test.state"))
            assert states
            assert states > 0
            assert service.tree_size(db) == states * 2001  # committed state <=> committed leaves
            report = verify_log(db, None)
            assert report.ok, report.problems
            entry = service.append_event(db, "registration.issued", {"after": "crash"})  # still appendable
            assert entry.index == states * 2001
    finally:
        fresh.dispose()
