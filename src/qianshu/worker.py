"""The job worker process (``qianshu worker``) and the one ``serve`` runs beside its web workers.

Both are built here from the manifests: every capability's job kinds (with their concurrency
limits) and periodic tasks, on the database and blob store the settings name.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from types import FrameType

from qianshu import capabilities
from qianshu.core import jobs
from qianshu.core.db import Database
from qianshu.core.settings import Settings

log = logging.getLogger(__name__)


def build_worker(settings: Settings, database: Database, threads: int | None = None,
                 poll_seconds: float = 1.0, periodic_after: float = 0.0) -> jobs.Worker:
    # Every capability's tables mapped before the first flush: a job's audit event refers to
    # `users`, which no module a handler imports maps (the web app imported them all through its
    # routers; a `qianshu worker` process failed every pipeline with NoReferencedTableError).
    import qianshu.models  # noqa: F401
    return jobs.Worker(jobs.JobContext.build(database, settings), capabilities.job_handlers(),
                       threads=threads or settings.worker_threads, concurrency=capabilities.job_concurrency(),
                       periodic=capabilities.periodic_tasks(), poll_seconds=poll_seconds,
                       grace_seconds=settings.worker_stop_seconds, periodic_after=periodic_after,
                       stale_after=timedelta(seconds=settings.worker_stale_seconds))


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
        # A second Ctrl-C ends the process at once. A second SIGTERM does not: stopping `serve`
        # signals its whole process group and then its job worker child, which must still give
        # its running jobs back rather than die holding them.
        signal.signal(signal.SIGINT, previous[signal.SIGINT])
        return worker.stop()
    finally:
        for sig, handler in previous.items():
            # Once stopping, a late SIGTERM (see above) is ignored while the process ends.
            ignored = sig == signal.SIGTERM and stop.is_set()
            signal.signal(sig, signal.SIG_IGN if ignored else handler)


class JobProcess:
    """The job worker ``qianshu serve`` runs beside its web workers: ``qianshu worker`` as a child
    process at ``JOB_NICENESS`` (core/threads.py), restarted if it dies.

    Jobs (a registration's pipeline: parsing, profiling, Parquet) used to run on threads inside
    every web process. Their threads ran at a lower priority, but in one CPython process they
    share the GIL: a job thread holding it made the event loop and the handlers wait whatever the
    scheduler preferred. A process of its own at a lower priority gives the web workers the CPU
    first and takes the rest. Sending SIGKILL to the server's process group kills it with the web
    workers; if only ``serve`` dies, the child is told so (SIGTERM, Linux) and stops too.
    """

    RESTART_AFTER_SECONDS = 2.0

    def __init__(self, settings: Settings, niceness: int | None = None) -> None:
        from qianshu.core.threads import JOB_NICENESS

        self.settings = settings
        self.niceness = JOB_NICENESS if niceness is None else niceness
        self.proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="qianshu-job-process", daemon=True)

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        self._started.wait(timeout)

    def _spawn(self) -> subprocess.Popen[bytes]:
        # No preexec_fn: serve may run web threads by now, and forking them to run Python is unsafe.
        env = dict(os.environ, QIANSHU_DATA_DIR=str(self.settings.data_dir))
        return subprocess.Popen(  # noqa: S603 - our own interpreter and command
            [sys.executable, "-m", "qianshu.cli", "worker", "--data-dir", str(self.settings.data_dir),
             "--niceness", str(self.niceness), "--parent-pid", str(os.getpid())], env=env)

    def _supervise(self) -> None:
        # The thread that starts the child must outlive it: Linux's parent-death signal is tied
        # to the thread, not the process.
        while not self._stopping.is_set():
            try:
                self.proc = self._spawn()
            except OSError:
                log.exception("starting the job worker process")
                self._started.set()
                self._stopping.wait(self.RESTART_AFTER_SECONDS)
                continue
            self._started.set()
            if self._stopping.is_set():  # stop() came while it started
                self.proc.terminate()
            code = self.proc.wait()
            if not self._stopping.is_set():
                log.warning("the job worker process ended (exit %s); starting another", code)
                self._stopping.wait(self.RESTART_AFTER_SECONDS)

    def stop(self) -> None:
        """SIGTERM: running jobs finish for ``worker_stop_seconds``, the rest go back to the queue."""
        self._stopping.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
        self._thread.join(self.settings.worker_stop_seconds + 10)
        if self.proc is not None and self.proc.poll() is None:  # it did not stop in time
            self.proc.kill()
            self.proc.wait()


def lower_priority_and_follow_parent(niceness: int, parent_pid: int | None) -> None:
    """In ``qianshu worker``: lower this process's CPU priority by ``niceness``; with
    ``parent_pid`` (``serve`` started it), get SIGTERM when the parent's starting thread ends
    (Linux's PR_SET_PDEATHSIG), and stop at once if the parent is already gone."""
    if niceness > 0:
        with contextlib.suppress(OSError):
            os.nice(niceness)
    if parent_pid is None:
        return
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before the signal was asked for
        raise SystemExit(0)
