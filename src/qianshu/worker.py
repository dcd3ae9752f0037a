"""The job worker process (``qianshu worker``) and the worker ``serve`` runs in-process.

Both are built here from the manifests: every capability's job kinds (with their concurrency
limits) and periodic tasks, on the database and blob store the settings name.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from qianshu import capabilities
from qianshu.core import jobs
from qianshu.core.db import Database
from qianshu.core.settings import Settings

log = logging.getLogger(__name__)


def build_worker(settings: Settings, database: Database, threads: int | None = None,
                 poll_seconds: float = 1.0, periodic_after: float = 0.0) -> jobs.Worker:
    return jobs.Worker(jobs.JobContext.build(database, settings), capabilities.job_handlers(),
                       threads=threads or settings.worker_threads, concurrency=capabilities.job_concurrency(),
                       periodic=capabilities.periodic_tasks(), poll_seconds=poll_seconds,
                       grace_seconds=settings.worker_stop_seconds, periodic_after=periodic_after)


def run_worker(settings: Settings, database: Database, threads: int | None = None,
               poll_seconds: float = 1.0, ready: threading.Event | None = None) -> list[int]:
    """Run jobs and periodic tasks until SIGTERM or SIGINT; then let running jobs finish for
    ``worker_stop_seconds`` and give the rest back to the queue (returned)."""
    capabilities.check_or_fail(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: the worker stops", signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    worker = build_worker(settings, database, threads, poll_seconds)
    try:
        worker.start()
        if ready is not None:
            ready.set()
        while not stop.wait(0.5):
            pass
        for sig, handler in previous.items():  # a second Ctrl-C ends the process at once
            signal.signal(sig, handler)
        return worker.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
