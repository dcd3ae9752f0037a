"""The API upload of a feed file over real HTTP (uvicorn on a loopback port, real commits): the body
streams into the blob store in chunks (a file far larger than one chunk is stored whole, its hash
taken as it arrived), and a hostile client — a body over the limit, declared or not, a body cut
off mid-way, a file in the wrong encoding or not a CSV — gets a clear answer in both languages and
leaves nothing behind: no blob, no temporary file, no version. Run on SQLite and, with
QIANSHU_TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from qianshu.accounts import service as accounts
from qianshu.accounts.schemas import TokenIn
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.sharing.models import SharingFile
from qianshu.web.app import create_app
from tests.factories import Factories
from tests.sharing.conftest import build_world
from tests.web.live import live_server

LIMIT = 32 * 1024 * 1024  # [sharing] max_file_bytes in these tests
ROW = b"520102199001011234,dibao,45000\n"


def _settings(database: Database, tmp_path: Path) -> Settings:
    return Settings(environment="test", data_dir=tmp_path / "data", database_url=database.url,
                    secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False,
                    sections={"sharing": {"max_file_bytes": LIMIT}})


def _world(database: Database) -> tuple[int, str, str]:
    """The conditional resource's id, its owner's API token and another department's."""
    with database.unit_of_work() as db:
        make = Factories(db)
        world = build_world(db, make)
        tokens = [accounts.create_token(db, accounts.actor_for(user, via="api", ip=None),
                                        TokenIn(name="t", scopes=["read", "write"]))[1]
                  for user in (world.owner, world.other)]
        return world.conditional, tokens[0], tokens[1]


def _rows(count: int) -> Iterator[bytes]:
    yield b"resident_id,assistance,monthly_amount_fen\n"
    block = ROW * 8192
    for _ in range(count // 8192):
        yield block


def _left_behind(settings: Settings, database: Database) -> tuple[list[str], list[str], int]:
    """Blobs, temporary files and feed versions in the store and the database."""
    store = open_blob_store(settings)  # makes its tmp/ folder
    with database.unit_of_work(write=False) as db:
        versions = int(db.scalar(select(func.count(SharingFile.id))) or 0)
    return list(store.digests()), [p.name for p in (settings.blob_dir / "tmp").iterdir()], versions


def _problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text[:500]
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, body
    return body


@pytest.fixture
def served(isolated_database: Database, tmp_path: Path) -> Iterator[tuple[str, Settings, int, str, str]]:
    settings = _settings(isolated_database, tmp_path)
    resource_id, owner, other = _world(isolated_database)
    with live_server(create_app(settings, database=isolated_database)) as url:
        yield url, settings, resource_id, owner, other


@pytest.mark.slow
def test_a_large_file_streams_into_the_store_with_its_hash(served, isolated_database) -> None:  # type: ignore[no-untyped-def]
    url, settings, resource_id, owner, _other = served
    rows = 8192 * 96  # 24 MiB: three blob-store chunks, many body chunks, far past the 1 MiB body default
    expected = hashlib.sha256(b"".join(_rows(rows))).hexdigest()
    with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {owner}"}) as client:
        answer = client.put(f"/api/v1/sharing/resources/{resource_id}/files/救助名单.csv",
                            params={"as_of": "2026-03-01"}, content=_rows(rows))  # chunked: no length declared
        assert answer.status_code == 201, answer.text[:500]
        body = answer.json()
        assert body["sha256"] == expected
        assert body["size"] == len(ROW) * rows + 42
        assert body["rows"] == rows
        assert body["filename"] == "救助名单.csv"
        assert body["version"] == 1
    blobs, temporary, versions = _left_behind(settings, isolated_database)
    assert blobs == [expected]
    assert temporary == []
    assert versions == 1
    stored = open_blob_store(settings).path(expected)
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == expected


@pytest.mark.slow
def test_a_body_over_the_limit_is_refused_in_both_languages_and_leaves_nothing(served, isolated_database) -> None:  # type: ignore[no-untyped-def]
    url, settings, resource_id, owner, _other = served
    over = 8192 * 160  # 40 MiB > 32 MiB
    path = f"/api/v1/sharing/resources/{resource_id}/files/big.csv"
    with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {owner}"}) as client:
        # declared: refused before a byte is read
        declared = client.put(path, params={"as_of": "2026-03-01"}, content=b"".join(_rows(over)),
                              headers={"Accept-Language": "en"})
        assert "larger than" in _problem(declared, 413, "payload_too_large")["detail"]
        # not declared (chunked): refused as soon as the running total passes the limit
        streamed = client.put(path, params={"as_of": "2026-03-01"}, content=_rows(over),
                              headers={"Accept-Language": "zh"})
        problem = _problem(streamed, 413, "payload_too_large")
        assert problem["field"] == "file"
        assert "超过" in problem["detail"] or "大于" in problem["detail"], problem
    assert _left_behind(settings, isolated_database) == ([], [], 0)


@pytest.mark.slow
def test_a_client_that_goes_away_mid_upload_leaves_nothing(served, isolated_database) -> None:  # type: ignore[no-untyped-def]
    url, settings, resource_id, owner, _other = served
    host = url.removeprefix("http://").split(":")[0]
    head = (f"PUT /api/v1/sharing/resources/{resource_id}/files/cut.csv?as_of=2026-03-01 HTTP/1.1\r\n"
            f"Host: {host}\r\nAuthorization: Bearer {owner}\r\nContent-Type: text/csv\r\n"
            f"Content-Length: {10 * 1024 * 1024}\r\n\r\n").encode()
    # ~1.8 MiB of the 10 declared, then the connection closes
    cut_off(url, head + b"resident_id,assistance,monthly_amount_fen\n" + ROW * 60_000, settings, isolated_database)
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {owner}"}) as client:
        again = client.put(f"/api/v1/sharing/resources/{resource_id}/files/whole.csv",
                           params={"as_of": "2026-03-01"}, content=b"resident_id,assistance,monthly_amount_fen\n" + ROW)
        assert again.status_code == 201, again.text  # the server is fine afterwards


def cut_off(url: str, data: bytes, settings: Settings, database: Database,
            left: Callable[[], tuple[list[str], list[str], int]] | None = None) -> None:
    """Send ``data`` (a request whose body is shorter than it declares) on a raw connection, close it
    once the server has begun writing a temporary file, and see that nothing of it is ``left``
    (blobs, temporary files, rows; by default the sharing feed's)."""
    look = left or (lambda: _left_behind(settings, database))
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(data)
        deadline = time.monotonic() + 10
        while not look()[1] and time.monotonic() < deadline:
            time.sleep(0.05)
    deadline = time.monotonic() + 15
    while look() != ([], [], 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert look() == ([], [], 0)


BAD_FILES = [
    ("资助名单,金额\n张三,100\n".encode("gb18030"), "not_utf8", "UTF-8", "UTF-8"),
    (b'resident_id,assistance\n520102199001011234,"dibao\n', "bad_csv", "well-formed CSV", "CSV"),
    (b"resident_id,assistance\n520102199001011234,dibao,1,2\n", "too_many_values", "Line 2 has 4 values",
     "第 2 行"),
    (b"resident_id,salary\n1,2\n", "header_mismatch", "unknown: salary", "salary"),
    (b"x" * (2 * 1024 * 1024), "line_too_long", "longer than", "超过"),
    (b"", "header_mismatch", "unknown: -", "-"),
]


@pytest.mark.slow
def test_a_file_in_the_wrong_encoding_or_not_a_csv_is_refused_and_leaves_nothing(served, isolated_database) -> None:  # type: ignore[no-untyped-def]
    url, settings, resource_id, owner, _other = served
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {owner}"}) as client:
        for body, code, english, chinese in BAD_FILES:
            for lang, expected in (("en", english), ("zh", chinese)):
                answer = client.put(f"/api/v1/sharing/resources/{resource_id}/files/bad.csv",
                                    params={"as_of": "2026-03-01"}, content=body, headers={"Accept-Language": lang})
                problem = _problem(answer, 422, code)
                assert problem["field"] == "file"
                assert expected in problem["detail"], (lang, problem)
    assert _left_behind(settings, isolated_database) == ([], [], 0)


@pytest.mark.slow
def test_another_department_cannot_upload_and_nothing_is_read(served, isolated_database) -> None:  # type: ignore[no-untyped-def]
    url, settings, resource_id, _owner, other = served
    with httpx.Client(base_url=url, timeout=60) as client:
        answer = client.put(f"/api/v1/sharing/resources/{resource_id}/files/a.csv", params={"as_of": "2026-03-01"},
                            content=b"resident_id\n1\n", headers={"Authorization": f"Bearer {other}"})
        assert answer.status_code == 403, answer.text
        anonymous = client.put(f"/api/v1/sharing/resources/{resource_id}/files/a.csv",
                               params={"as_of": "2026-03-01"}, content=b"resident_id\n1\n")
        assert anonymous.status_code == 401, anonymous.text
    assert _left_behind(settings, isolated_database) == ([], [], 0)
