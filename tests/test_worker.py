"""``qianshu worker``: a process that runs queued jobs and periodic tasks and stops cleanly on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

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
        time.sleep(0.5)
        # Stopping `serve` signals its process group, then its job worker child: a second SIGTERM
        # still lets the worker stop cleanly (a second Ctrl-C ends it at once).
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


def _children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (Linux's /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _command_line(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def _merchant_token(database: Database) -> dict[str, str]:
    from qianshu.accounts import service
    from qianshu.accounts.schemas import TokenIn
    from tests.factories import Factories

    with database.unit_of_work() as db:
        user = Factories(db).user()
        actor = service.actor_for(user, via="api", ip="127.0.0.1")
        _token, raw = service.create_token(db, actor, TokenIn(name="worker test", scopes=["read", "write"]))
    return {"Authorization": f"Bearer {raw}"}


def _answers(http: httpx.Client) -> bool:
    try:
        return http.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def _register_and_process(http: httpx.Client, tag: str) -> int:
    created = http.post("/api/v1/registrations", json={"title_zh": f"作业测试 {tag}", "title_en": f"Job test {tag}"})
    assert created.status_code == 201, created.text
    reg_id = int(created.json()["id"])
    body = ("编号,站点,数量\n" + "".join(f"{tag}{n},站点{n % 3},{n}\n" for n in range(20))).encode()
    uploaded = http.put(f"/api/v1/registrations/{reg_id}/files/{tag}.csv", content=body,
                        headers={"Content-Type": "text/csv"})
    assert uploaded.status_code == 201, uploaded.text
    assert http.post(f"/api/v1/registrations/{reg_id}/process").status_code == 202
    return reg_id


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_serve_command_runs_its_jobs_in_a_lower_priority_child_that_ends_with_it(
        isolated_database: Database, tmp_path: Path) -> None:
    """``qianshu serve`` runs the jobs (the embedded default) in a ``qianshu worker`` child at a
    lower CPU priority, restarts it when it dies, and the child ends when serve is killed."""
    data_dir = tmp_path / "data"
    make_data_folder(data_dir)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "QIANSHU_DATABASE_URL": isolated_database.url, "QIANSHU_ENVIRONMENT": "test",
           "QIANSHU_WORKER_STOP_SECONDS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("QIANSHU_RUN_JOBS_IN_PROCESS", None)
    serve = subprocess.Popen([sys.executable, "-m", "qianshu.cli", "serve", "--data-dir", str(data_dir),
                              "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[int] = []
    try:
        def job_worker() -> int | None:
            for pid in _children(serve.pid):
                with contextlib.suppress(OSError):
                    if "worker" in _command_line(pid):
                        return pid
            return None

        def wait_for(what: Callable[[], object], seconds: float = 60) -> None:
            deadline = time.monotonic() + seconds
            while not what() and time.monotonic() < deadline:
                assert serve.poll() is None, "serve ended"
                time.sleep(0.1)
            assert what()

        wait_for(job_worker)
        first = job_worker()
        assert first is not None
        children.append(first)
        base = os.getpriority(os.PRIO_PROCESS, serve.pid)
        wait_for(lambda: os.getpriority(os.PRIO_PROCESS, first) >= base + 10, seconds=30)  # once it has started
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=_merchant_token(isolated_database),
                            timeout=30)
        wait_for(lambda: _answers(http))
        first_id = _register_and_process(http, "a")
        wait_for(lambda: http.get(f"/api/v1/registrations/{first_id}").json()["status"] != "processing")
        assert http.get(f"/api/v1/registrations/{first_id}").json()["status"] == "ready"  # the whole pipeline ran
        os.kill(first, signal.SIGKILL)  # a job worker that dies is replaced
        wait_for(lambda: job_worker() not in (None, first), seconds=30)
        second = job_worker()
        assert second is not None
        children.append(second)
        second_id = _register_and_process(http, "b")
        wait_for(lambda: http.get(f"/api/v1/registrations/{second_id}").json()["status"] != "processing")
        assert http.get(f"/api/v1/registrations/{second_id}").json()["status"] == "ready"
        http.close()
        serve.kill()  # SIGKILL to serve alone: its child is told and stops
        serve.wait()
        deadline = time.monotonic() + 20
        while Path(f"/proc/{second}").exists() and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(second, os.WNOHANG)  # not ours to reap: only a zombie would stay
            time.sleep(0.1)
        state = (Path(f"/proc/{second}/stat").read_text().split()[2]
                 if Path(f"/proc/{second}").exists() else "gone")
        assert state in ("gone", "Z")
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
