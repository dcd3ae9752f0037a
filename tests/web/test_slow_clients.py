"""A real server on a real socket: clients that drip their bodies hold nothing.

A dripped form to ``POST /sign-in`` with a bogus session cookie, and a dripped certificate to the
API's verification with a bearer token, used to open the request's write transaction (on SQLite
the database's one write lock) and then wait for the body. Now bodies are read before any
transaction opens: while they drip, another client signs in and writes, its writes and
``/healthz`` answering within a second; the drips end with 408 once ``body_read_timeout_seconds``
has passed.
"""

from __future__ import annotations

import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from qianshu.accounts import service as accounts
from qianshu.accounts.schemas import TokenIn
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.web.app import create_app
from tests.factories import TEST_PASSWORD, Factories

DRIP_TIMEOUT = 4.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(isolated_database: Database, tmp_path: Path) -> Iterator[str]:
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False,
                        body_read_timeout_seconds=DRIP_TIMEOUT)
    app = create_app(settings, database=isolated_database)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, name="test server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert uv.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(10)


class Drip(threading.Thread):
    """Sends a request's head, then its body one byte every ``every`` seconds, until the server
    answers; keeps the status line and when it came."""

    def __init__(self, base: str, path: str, headers: dict[str, str], length: int = 400, every: float = 0.05,
                 method: str = "POST"):
        super().__init__(daemon=True)
        self.port = int(base.rsplit(":", 1)[1])
        self.path, self.headers, self.length, self.every, self.method = path, headers, length, every, method
        self.status = 0
        self.answer = ""
        self.started_at = self.answered_at = 0.0

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            head = f"{self.method} {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {self.length}\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in self.headers.items()) + "\r\n"
            self.started_at = time.monotonic()
            sock.sendall(head.encode())
            for _ in range(self.length):
                if select.select([sock], [], [], self.every)[0]:
                    break  # the server has answered
                try:
                    sock.sendall(b"a")
                except OSError:
                    break
            answer = sock.recv(65536)
            self.answered_at = time.monotonic()
            self.answer = answer.decode("utf-8", "replace")
            found = re.match(rb"HTTP/1.1 (\d+)", answer)
            self.status = int(found.group(1)) if found else -1


def _quick(call, status: int, within: float = 1.0):  # type: ignore[no-untyped-def]
    """``call()``'s response, asserting its status and that it came ``within`` seconds."""
    start = time.monotonic()
    response = call()
    took = time.monotonic() - start
    assert response.status_code == status, response.text[:300]
    assert took < within, took
    return response


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


@pytest.mark.slow
@pytest.mark.alone
def test_dripped_bodies_hold_no_lock(server: str, isolated_database: Database) -> None:
    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        user = make.user(organisation=make.org(org_type="data_merchant"))
        db.flush()
        email = user.email
        _token, raw = accounts.create_token(db, accounts.actor_for(user, via="api", ip="127.0.0.1"),
                                            TokenIn(name="drip", scopes=["read", "write"]))
    bearer = {"Authorization": f"Bearer {raw}"}
    drips = [
        Drip(server, "/sign-in", {"Cookie": "qs_session=bogus; qs_csrf=bogus",
                                  "Content-Type": "application/x-www-form-urlencoded"}),
        Drip(server, "/api/v1/registrations/certificates/verify", bearer | {"Content-Type": "application/json"}),
    ]
    for drip in drips:
        drip.start()
    time.sleep(0.3)  # the drips are under way

    with httpx.Client(base_url=server, timeout=5) as client:
        overlapped = 0  # rounds that began and ended while both bodies were still dripping
        while drips[0].status == 0 and overlapped < 4:
            _quick(lambda: client.get("/healthz"), 200)
            _quick(lambda: client.post("/api/v1/registrations", json={"title_zh": "并发"}, headers=bearer), 201)
            client.cookies.clear()
            form = {"email": email, "password": TEST_PASSWORD, "csrf_token": _csrf(client.get("/sign-in"))}
            # Signing in hashes a password (CPU-bound, slower on a loaded machine); it only has to succeed
            # while the drips go on. The writes and the probe must answer within a second.
            _quick(lambda: client.post("/sign-in", data=form), 303, within=3)  # noqa: B023 - called at once
            form = {"title_zh": "门户登记", "csrf_token": _csrf(client.get("/registry"))}
            _quick(lambda: client.post("/registry/new", data=form), 303)  # noqa: B023 - called at once
            overlapped += all(drip.status == 0 for drip in drips)
        assert overlapped >= 1

    for drip in drips:
        drip.join(DRIP_TIMEOUT + 5)
        assert drip.status == 408, drip.status
        assert DRIP_TIMEOUT - 0.5 < drip.answered_at - drip.started_at < DRIP_TIMEOUT + 2


@pytest.mark.slow
def test_a_dripped_upload_is_cut_off_and_keeps_nothing(server: str, isolated_database: Database) -> None:
    """A streamed upload (read on a worker thread, outside any transaction) must keep a pace: one
    that drips a few bytes a second gets 408 once ``body_read_timeout_seconds`` and its few bytes'
    allowance have passed, instead of holding the thread for as long as it likes."""
    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        user = make.user(organisation=make.org(org_type="data_merchant"))
        db.flush()
        _token, raw = accounts.create_token(db, accounts.actor_for(user, via="api", ip="127.0.0.1"),
                                            TokenIn(name="drip", scopes=["read", "write"]))
    bearer = {"Authorization": f"Bearer {raw}"}
    with httpx.Client(base_url=server, timeout=5, headers=bearer) as client:
        rid = client.post("/api/v1/registrations", json={"title_zh": "慢速上传"}).json()["id"]
        drip = Drip(server, f"/api/v1/registrations/{rid}/files/slow.csv",
                    bearer | {"Content-Type": "text/csv", "Accept-Language": "zh"}, length=10_000, method="PUT")
        drip.start()
        time.sleep(0.3)
        _quick(lambda: client.get("/healthz"), 200)  # the server answers others meanwhile
        drip.join(DRIP_TIMEOUT + 10)
        assert drip.status == 408, drip.status
        assert "上传速度太慢" in drip.answer
        assert DRIP_TIMEOUT - 0.5 < drip.answered_at - drip.started_at < DRIP_TIMEOUT + 3
        assert client.get(f"/api/v1/registrations/{rid}").json()["files"] == []  # nothing kept
