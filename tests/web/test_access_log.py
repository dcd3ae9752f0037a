"""`qianshu serve` writes a log line per request only when the `access_log` setting says so:
by default in development, never by default in production."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from qianshu.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
STRONG_SECRET = "p" * 48


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_and_read_log(data_dir: Path, **variables: str) -> str:
    """Start `qianshu serve` on a SQLite data folder, request a page twice, stop it; its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANSHU_")}
    env.update(QIANSHU_DATA_DIR=str(data_dir), QIANSHU_RUN_JOBS_IN_PROCESS="false", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p),
               **variables)
    port = _free_port()
    log = data_dir.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qianshu.cli", "serve", "--data-dir", str(data_dir), "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, log.read_text(errors="replace")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
            assert httpx.get(f"http://127.0.0.1:{port}/catalog", timeout=30).status_code == 200
        finally:
            proc.terminate()
            proc.wait(30)
    return log.read_text(errors="replace")


@pytest.mark.slow
def test_production_writes_no_access_log_unless_asked(tmp_path: Path) -> None:
    quiet = _serve_and_read_log(tmp_path / "quiet", QIANSHU_ENVIRONMENT="production",
                                QIANSHU_SECRET_KEY=STRONG_SECRET)
    assert "Qianshu on" in quiet  # it ran
    assert "GET /catalog" not in quiet
    assert "GET /healthz" not in quiet

    # the same folder, already set up: only the setting differs
    asked = _serve_and_read_log(tmp_path / "quiet", QIANSHU_ENVIRONMENT="production",
                                QIANSHU_SECRET_KEY=STRONG_SECRET, QIANSHU_ACCESS_LOG="true")
    assert "GET /catalog HTTP/1.1\" 200" in asked


def test_the_access_log_defaults_to_on_in_development_and_off_in_production() -> None:
    assert Settings(environment="development").writes_access_log
    assert Settings(environment="test").writes_access_log
    assert not Settings(environment="production", secret_key=STRONG_SECRET).writes_access_log
    assert not Settings(environment="development", access_log=False).writes_access_log
    assert Settings(environment="production", secret_key=STRONG_SECRET, access_log=True).writes_access_log
