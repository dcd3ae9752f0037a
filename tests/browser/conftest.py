"""Browser tests: a real server on a seeded demo folder, driven by headless Chromium.

Chromium comes from the system (Debian's ``chromium``); Playwright only drives it. Without
Chromium these tests are skipped, unless ``QIANSHU_REQUIRE_BROWSER=1`` (CI) makes that a
failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    # A public notice of 0 minutes (not even the demo's 2) lets the journey reach the certificate
    # within one test.
    env = {**os.environ, "QIANSHU_DATA_DIR": str(data_dir), "QIANSHU_LOGIN_MAX_FAILURES": "50",
           "QIANSHU_REGISTRY__PUBLIC_NOTICE_DAYS": "0", "QIANSHU_REGISTRY__PUBLIC_NOTICE_MINUTES": "0",
           # a short trading history: the pages have figures, and its job does not compete with the tests
           "QIANSHU_EXCHANGE__DEMO_HISTORY_CONTRACTS": "120"}
    env.pop("QIANSHU_TEST_DATABASE_URL", None)
    if url := os.environ.get("QIANSHU_BROWSER_DATABASE_URL"):
        env["QIANSHU_DATABASE_URL"] = url
    subprocess.run([sys.executable, "-m", "qianshu.cli", "demo", "--seed-only", "--data-dir", str(data_dir)],
                   env=env, check=True, capture_output=True, timeout=300)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (data_dir / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "qianshu.web.asgi:app", "--host", "127.0.0.1",
                               "--port", str(port)], env={**env, "QIANSHU_PUBLIC_BASE_URL": base},
                              stdout=log, stderr=subprocess.STDOUT)
    os.environ["QIANSHU_LIVE_DATA_DIR"] = str(data_dir)  # tests read the public key from here
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError(Path(data_dir / "server.log").read_text())
        yield base
    finally:
        os.environ.pop("QIANSHU_LIVE_DATA_DIR", None)
        server.terminate()
        try:  # a graceful stop waits for the demo's background jobs; on a busy machine that takes a while
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    executable = _chromium()
    if executable is None:
        if os.environ.get("QIANSHU_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required (apt-get install chromium)")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, live_server: str) -> Iterator[object]:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server, locale="zh-CN")
    tab = context.new_page()
    yield tab
    context.close()
