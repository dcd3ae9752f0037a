"""``qianshu worker``: a process that runs queued jobs and periodic tasks and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from qianshu.bootstrap import ensure_keys
from qianshu.core.db import Database
from qianshu.core.jobs import Job, PeriodicRun, enqueue
from tests.data_folder import make_data_folder


def _status(database: Database, job_id: int) -> str:
    with database.unit_of_work(write=False) as db:
        return db.get_one(Job, job_id).status


def test_the_worker_command_runs_a_queued_job_and_stops_on_sigterm(isolated_database: Database,
                                                                   tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    make_data_folder(data_dir)  # as `qianshu init` leaves it: the periodic certificate issue signs with its keys
    with isolated_database.unit_of_work() as db:
        # A pipeline whose registration is gone: the handler finds nothing to do and succeeds.
        job_id = enqueue(db, "registry.pipeline", {"registration_id": 987654}).id
    env = {**os.environ, "QIANSHU_DATABASE_URL": isolated_database.url, "QIANSHU_ENVIRONMENT": "test",
           "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen([sys.executable, "-m", "qianshu.cli", "worker", "--data-dir", str(data_dir),
                                "--threads", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        deadline = time.monotonic() + 30

        def periodic_finished() -> PeriodicRun | None:
            with isolated_database.unit_of_work(write=False) as db:
                run = db.get(PeriodicRun, "registry.issue_due")
                return run if run is not None and run.last_finished_at is not None else None

        # The job and the periodic task run on different threads: wait for both.
        while (_status(isolated_database, job_id) != "succeeded" or periodic_finished() is None) \
                and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[0]
            time.sleep(0.1)
        assert _status(isolated_database, job_id) == "succeeded"
        issue_due = periodic_finished()
        assert issue_due is not None
        assert issue_due.last_finished_at is not None  # periodic work ran too
        assert issue_due.last_error == ""
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "2 threads" in output
    assert "worker stopped; 0 unfinished job(s) given back to the queue" in output


def test_serve_runs_a_worker_in_process_by_default(isolated_database: Database, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from qianshu.core.settings import Settings
    from qianshu.web.app import create_app

    ensure_keys(tmp_path / "data" / "keys")
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, worker_stop_seconds=1)
    assert settings.run_jobs_in_process  # the embedded default
    with isolated_database.unit_of_work() as db:
        job_id = enqueue(db, "registry.pipeline", {"registration_id": 987654}).id
    with TestClient(create_app(settings, database=isolated_database)):
        deadline = time.monotonic() + 20
        while _status(isolated_database, job_id) != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.05)
    assert _status(isolated_database, job_id) == "succeeded"
