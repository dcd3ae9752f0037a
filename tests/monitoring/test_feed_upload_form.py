"""The portal's feed upload form over real HTTP (uvicorn on a loopback port, real commits): a GBK file
past the portal's 1 MiB default body limit is received up to ``[monitoring] feed_max_bytes``,
streamed to a temporary file and queued for its check; a file over the limit (declared or not) is
refused in the reader's language, another county's division and a missing CSRF token are refused,
and a body cut off mid-way leaves nothing: no upload, no blob, no temporary file. Run on SQLite and,
with QIANSHU_TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import hashlib
import html
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from select import select as wait_for_sockets
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from qianshu.accounts import service as accounts
from qianshu.accounts.schemas import TokenIn
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.monitoring.models import FeedUpload
from qianshu.web.app import create_app
from tests.factories import Factories
from tests.sharing.test_upload_form import signed_in
from tests.sharing.test_upload_stream import cut_off
from tests.web.live import live_server

COUNTY = "520402"
LIMIT = 4 * 1024 * 1024
ROW = "520402199001011234,5204020010010000001,2025-03-01,洪涝,倒塌\n"


def _gbk(rows: int) -> bytes:
    return ("resident_id,household_id,event_date,disaster,damage\n" + ROW * rows).encode("gbk")


def _left(settings: Settings, database: Database) -> tuple[list[str], list[str], int]:
    """Blobs, files in the work folder and the store's tmp/, and uploads recorded."""
    store = open_blob_store(settings)
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    with database.unit_of_work(write=False) as db:
        uploads = int(db.scalar(select(func.count(FeedUpload.id))) or 0)
    temporary = [p.name for p in settings.work_dir.iterdir()] + [p.name for p in (settings.blob_dir / "tmp").iterdir()]
    return list(store.digests()), temporary, uploads


@pytest.fixture
def served(isolated_database: Database, tmp_path: Path) -> Iterator[tuple[str, Settings, str, str]]:
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False,
                        sections={"monitoring": {"feed_max_bytes": LIMIT}})
    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        org = make.org(org_type="government", name="安顺市西秀区应急管理局")
        user = make.user(organisation=org, org_role="member", jurisdiction=COUNTY)
        cookie = accounts.start_session(db, settings, user, "127.0.0.1", "test")
        token = accounts.create_token(db, accounts.actor_for(user, via="api", ip=None),
                                      TokenIn(name="t", scopes=["read", "write"]))[1]
    with live_server(create_app(settings, database=isolated_database)) as url:
        yield url, settings, cookie, token


def _post(client: httpx.Client, token: str | None, body: bytes, division: str = COUNTY) -> httpx.Response:
    return client.post("/monitoring/feeds", params={"csrf_token": token} if token else {},
                       data={"feed": "emergency", "year": "2025", "division": division, "encoding": "auto"},
                       files={"file": ("灾情.csv", body, "text/csv")}, follow_redirects=False)


def _error(page: str) -> str:
    """The error shown beside the form's file field."""
    found = re.search(r'class="field-error" id="[^"]*file-error">([^<]*)<', page)
    assert found is not None, page[-2000:]
    return html.unescape(found.group(1))


@pytest.mark.slow
def test_a_gbk_file_past_one_mebibyte_is_received_and_queued(served: Any, isolated_database: Database) -> None:
    url, settings, cookie, _token = served
    body = _gbk(30_000)
    assert len(body) > 1024 * 1024
    with signed_in(url, cookie, "zh") as (client, token):
        answer = _post(client, token, body)
        assert answer.status_code == 303, answer.text[-2000:]
        assert "/monitoring/feeds/uploads/" in answer.headers["location"]
        page = client.get(answer.headers["location"])
        assert "灾情.csv" in page.text
    blobs, temporary, uploads = _left(settings, isolated_database)
    assert blobs == [hashlib.sha256(body).hexdigest()]
    assert (temporary, uploads) == ([], 1)


@pytest.mark.slow
def test_too_large_another_county_and_no_csrf_are_refused_and_leave_nothing(served: Any,
                                                                            isolated_database: Database) -> None:
    url, settings, cookie, _token = served
    big = _gbk(LIMIT // len(ROW.encode("gbk")) + 1000)
    for lang, words in (("zh", "文件大于 4 MB"), ("en", "larger than 4 MB")):
        with signed_in(url, cookie, lang) as (client, token):
            declared = _post(client, token, big)
            assert declared.status_code == 413
            assert words in _error(declared.text)

            def chunked() -> Iterator[bytes]:
                yield (b'--b0\r\nContent-Disposition: form-data; name="division"\r\n\r\n' + COUNTY.encode() +
                       b'\r\n--b0\r\nContent-Disposition: form-data; name="year"\r\n\r\n2025\r\n'
                       b'--b0\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n')
                for start in range(0, len(big), 1 << 20):
                    yield big[start:start + (1 << 20)]
                yield b"\r\n--b0--\r\n"

            streamed = client.post("/monitoring/feeds", params={"csrf_token": token}, content=chunked(),
                                   headers={"Content-Type": "multipart/form-data; boundary=b0"})
            assert streamed.status_code == 413
            assert words in _error(streamed.text)
            assert _post(client, token, _gbk(10), division="520102").status_code == 403  # not its county
            assert _post(client, None, _gbk(10)).status_code == 403  # no CSRF token
    assert _left(settings, isolated_database) == ([], [], 0)


@pytest.mark.slow
def test_a_form_cut_off_mid_file_leaves_nothing(served: Any, isolated_database: Database) -> None:
    url, settings, cookie, _token = served
    with signed_in(url, cookie, "zh") as (client, token):
        cookies = f"qs_session={client.cookies['qs_session']}; qs_csrf={client.cookies['qs_csrf']}"
    host = url.removeprefix("http://").split(":")[0]
    part = (b'--cut\r\nContent-Disposition: form-data; name="division"\r\n\r\n' + COUNTY.encode() +
            b'\r\n--cut\r\nContent-Disposition: form-data; name="year"\r\n\r\n2025\r\n'
            b'--cut\r\nContent-Disposition: form-data; name="file"; filename="cut.csv"\r\n\r\n')
    head = (f"POST /monitoring/feeds?csrf_token={token} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookies}\r\n"
            f"Content-Type: multipart/form-data; boundary=cut\r\nContent-Length: {3 * 1024 * 1024}\r\n\r\n").encode()
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    cut_off(url, head + part + _gbk(20_000), settings, isolated_database,
            left=lambda: _left(settings, isolated_database))


@pytest.mark.slow
def test_the_api_streams_the_file_too(served: Any, isolated_database: Database) -> None:
    url, settings, _cookie, token = served
    query = {"feed": "emergency", "year": "2025", "division": COUNTY}
    with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as client:
        body = _gbk(30_000)  # past the 1 MiB default body limit
        answer = client.post("/api/v1/monitoring/feeds", params=query, files={"file": ("灾情.csv", body, "text/csv")})
        assert answer.status_code == 202, answer.text[:500]
        assert answer.json()["status"] == "queued"
        big = client.post("/api/v1/monitoring/feeds", params=query, headers={"Accept-Language": "en"},
                          files={"file": ("big.csv", _gbk(LIMIT // len(ROW.encode("gbk")) + 1000), "text/csv")})
        assert big.status_code == 413
        assert (big.json()["field"], big.json()["code"]) == ("file", "payload_too_large")
        assert "larger than 4 MB" in big.json()["detail"]
        other = client.post("/api/v1/monitoring/feeds", params={**query, "division": "520102"},
                            files={"file": ("a.csv", _gbk(10), "text/csv")})
        assert other.status_code == 403
    blobs, temporary, uploads = _left(settings, isolated_database)
    assert (blobs, temporary, uploads) == ([hashlib.sha256(body).hexdigest()], [], 1)


HUGE = 1024**3  # declared by the clients below, never sent


def _huge_form(url: str, token: str, cookies: str, lang: str) -> bytes:
    """A form's head and first part that declare a 1 GiB body, up to the first bytes of its file."""
    host = url.removeprefix("http://").split(":")[0]
    part = (b'--huge\r\nContent-Disposition: form-data; name="division"\r\n\r\n' + COUNTY.encode() +
            b'\r\n--huge\r\nContent-Disposition: form-data; name="year"\r\n\r\n2025\r\n'
            b'--huge\r\nContent-Disposition: form-data; name="file"; filename="huge.csv"\r\n\r\n')
    head = (f"POST /monitoring/feeds?csrf_token={token} HTTP/1.1\r\nHost: {host}\r\n"
            f"Cookie: {cookies}; qs_lang={lang}\r\n"
            f"Content-Type: multipart/form-data; boundary=huge\r\nContent-Length: {HUGE}\r\n\r\n").encode()
    return head + part + _gbk(100)


def _answer(sock: socket.socket) -> tuple[int, str, str]:
    """Status, head and page of the answer on ``sock``, read until the server closes the connection
    (which it must: the client has not sent the body it declared)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break  # the server closed with the client's bytes unread; what it said came first
        if not chunk:
            break
        data += chunk
    head, _, page = data.partition(b"\r\n\r\n")
    found = re.match(rb"HTTP/1.1 (\d+)", head)
    assert found is not None, data[:300]
    return int(found.group(1)), head.decode("latin-1").lower(), page.decode("utf-8")


@pytest.mark.slow
def test_a_refused_huge_upload_is_answered_and_holds_nothing(served: Any, isolated_database: Database) -> None:
    """Clients that declare a 1 GiB file and stall after its first bytes get the refusal beside the
    field in their language, on a connection the server then closes (they used to hold a worker
    thread, and a request slot, for as long as they stayed connected); meanwhile other requests are
    answered. A client that keeps sending is answered too, after the server has taken in a little
    of its file, not all of it."""
    url, settings, cookie, _token = served
    with signed_in(url, cookie, "zh") as (client, token):
        cookies = f"qs_session={client.cookies['qs_session']}; qs_csrf={client.cookies['qs_csrf']}"
    port = int(url.rsplit(":", 1)[1])
    langs = ["zh", "en"] * 3
    stalled = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in langs]
    try:
        for sock, lang in zip(stalled, langs, strict=True):
            sock.sendall(_huge_form(url, token, cookies, lang))
        with httpx.Client(base_url=url, timeout=20) as other:
            other.cookies.set("qs_session", cookie)
            assert other.get("/healthz").status_code == 200
            assert other.get("/monitoring/feeds").status_code == 200  # a page on a worker thread, with the database
        for sock, lang in zip(stalled, langs, strict=True):
            status, head, page = _answer(sock)
            assert status == 413
            assert "connection: close" in head
            assert ("文件大于 4 MB" if lang == "zh" else "larger than 4 MB") in _error(page)
    finally:
        for sock in stalled:
            sock.close()

    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(_huge_form(url, token, cookies, "en"))
        block = b"x" * (256 * 1024)
        while sent < 256 * 1024 * 1024 and not wait_for_sockets([sock], [], [], 0)[0]:
            try:
                sock.sendall(block)
            except OSError:
                break  # the server answered and closed the connection
            sent += len(block)
        status, head, page = _answer(sock)
    assert status == 413
    assert "connection: close" in head
    assert "larger than 4 MB" in _error(page)
    assert sent < 128 * 1024 * 1024  # a little of the gigabyte, then the connection ended
    assert _left(settings, isolated_database) == ([], [], 0)
