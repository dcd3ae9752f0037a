"""The portal's feed upload form over real HTTP (uvicorn on a loopback port, real commits): a file far
past the portal's 1 MiB default body limit is accepted up to ``[sharing] max_file_bytes``, streamed
into the blob store; a file over the limit (declared or not), a GBK file and a body cut off mid-way
are refused with the error beside the field in the reader's language and leave nothing behind; the
CSRF token is still checked. Run on SQLite and, with QIANSHU_TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from qianshu.accounts import service as accounts
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.web.app import create_app
from tests.factories import Factories
from tests.sharing.conftest import build_world
from tests.sharing.test_upload_stream import ROW, _left_behind, cut_off
from tests.web.live import live_server

LIMIT = 6 * 1024 * 1024  # [sharing] max_file_bytes in these tests: far past the portal's 1 MiB default
HEADER = b"resident_id,assistance,monthly_amount_fen\n"


def _settings(database: Database, tmp_path: Path) -> Settings:
    return Settings(environment="test", data_dir=tmp_path / "data", database_url=database.url,
                    secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False,
                    sections={"sharing": {"max_file_bytes": LIMIT}})


def _sessions(database: Database, settings: Settings) -> tuple[int, str, str]:
    """The conditional resource's id, its owner's session cookie and another department's."""
    with database.unit_of_work() as db:
        world = build_world(db, Factories(db))
        cookies = [accounts.start_session(db, settings, user, "127.0.0.1", "test")
                   for user in (world.owner, world.other)]
        return world.conditional, cookies[0], cookies[1]


@contextmanager
def signed_in(url: str, cookie: str, lang: str) -> Iterator[tuple[httpx.Client, str]]:
    """A browser-like client in ``lang`` with its CSRF token."""
    with httpx.Client(base_url=url, timeout=120) as client:
        client.cookies.set("qs_session", cookie)
        client.get(f"/lang/{lang}?next=/")
        found = re.search(r'name="csrf-token" content="([0-9a-f]+)"', client.get("/").text)
        assert found is not None
        yield client, found.group(1)


def field_error(page: str, name: str) -> str:
    ident = name.replace("_", "-")
    found = re.search(rf'class="field-error" id="[^"]*{ident}-error">([^<]*)<', page)
    assert found is not None, page[-3000:]
    return html.unescape(found.group(1))


def _file(rows: int) -> bytes:
    return HEADER + ROW * rows


@pytest.fixture
def served(isolated_database: Database, tmp_path: Path) -> Iterator[tuple[str, Settings, int, str, str]]:
    settings = _settings(isolated_database, tmp_path)
    resource_id, owner, other = _sessions(isolated_database, settings)
    with live_server(create_app(settings, database=isolated_database)) as url:
        yield url, settings, resource_id, owner, other


@pytest.mark.slow
def test_a_file_past_one_mebibyte_is_uploaded_through_the_form(served, isolated_database) -> None:  # type: ignore[no-untyped-def]
    url, settings, resource_id, owner, _other = served
    body = _file(100_000)  # 3.1 MiB
    with signed_in(url, owner, "zh") as (client, token):
        answer = client.post(f"/sharing/resources/{resource_id}/files", params={"csrf_token": token},
                             data={"as_of": "2026-03-01"}, files={"file": ("救助名单.csv", body, "text/csv")})
        assert answer.status_code == 303, answer.text[-2000:]
        page = client.get(f"/sharing/resources/{resource_id}").text
        assert "救助名单.csv" in page
        assert "2026-03-01" in page
        assert "100,000" in page
    blobs, temporary, versions = _left_behind(settings, isolated_database)
    assert blobs == [hashlib.sha256(body).hexdigest()]
    assert (temporary, versions) == ([], 1)


@pytest.mark.slow
def test_a_file_over_the_limit_is_refused_beside_the_field_in_both_languages(served, isolated_database) -> None:  # type: ignore[no-untyped-def]
    url, settings, resource_id, owner, _other = served
    body = _file(LIMIT // len(ROW) + 1000)
    for lang, words in (("zh", "文件超过 6 MiB 的上限"), ("en", "larger than the limit of 6 MiB")):
        with signed_in(url, owner, lang) as (client, token):
            # declared (the length of a whole form): refused before the file is read
            declared = client.post(f"/sharing/resources/{resource_id}/files", params={"csrf_token": token},
                                   data={"as_of": "2026-03-01"}, files={"file": ("big.csv", body, "text/csv")})
            assert declared.status_code == 413, declared.text[-2000:]
            assert words in field_error(declared.text, "file")

            # not declared (chunked): refused as soon as the file passes the limit
            def chunked() -> Iterator[bytes]:
                boundary = b"--b0undary"
                yield boundary + b'\r\nContent-Disposition: form-data; name="as_of"\r\n\r\n2026-03-02\r\n'
                yield boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
                for start in range(0, len(body), 1 << 20):
                    yield body[start:start + (1 << 20)]
                yield b"\r\n" + boundary + b"--\r\n"

            streamed = client.post(f"/sharing/resources/{resource_id}/files", params={"csrf_token": token},
                                   content=chunked(),
                                   headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
            assert streamed.status_code == 413, streamed.text[-2000:]
            assert words in field_error(streamed.text, "file")
            assert 'value="2026-03-02"' in streamed.text  # the date typed is kept
    assert _left_behind(settings, isolated_database) == ([], [], 0)


@pytest.mark.slow
def test_a_gbk_file_and_a_missing_date_are_refused_beside_their_fields(served, isolated_database) -> None:  # type: ignore[no-untyped-def]
    url, settings, resource_id, owner, _other = served
    gbk = "resident_id,assistance\n520102199001011234,低保\n".encode("gbk")
    for lang, words in (("zh", "第 2 行"), ("en", "line 2")):
        with signed_in(url, owner, lang) as (client, token):
            answer = client.post(f"/sharing/resources/{resource_id}/files", params={"csrf_token": token},
                                 data={"as_of": "2026-03-01"}, files={"file": ("gbk.csv", gbk, "text/csv")})
            assert answer.status_code == 422, answer.text[-2000:]
            message = field_error(answer.text, "file")
            assert words in message.lower(), message
            assert "UTF-8" in message
            undated = client.post(f"/sharing/resources/{resource_id}/files", params={"csrf_token": token},
                                  data={"as_of": ""}, files={"file": ("ok.csv", _file(10), "text/csv")})
            assert undated.status_code == 422
            assert "YYYY-MM-DD" in field_error(undated.text, "as_of")
            none = client.post(f"/sharing/resources/{resource_id}/files", params={"csrf_token": token},
                               data={"as_of": "2026-03-01"}, files={"file": ("", b"", "application/octet-stream")})
            assert none.status_code == 422
            assert field_error(none.text, "file")
    assert _left_behind(settings, isolated_database) == ([], [], 0)


@pytest.mark.slow
def test_csrf_is_checked_and_another_department_may_not_upload(served, isolated_database) -> None:  # type: ignore[no-untyped-def]
    url, settings, resource_id, owner, other = served
    with signed_in(url, owner, "en") as (client, _token):
        forged = client.post(f"/sharing/resources/{resource_id}/files", data={"as_of": "2026-03-01"},
                             files={"file": ("a.csv", _file(10), "text/csv")})
        assert forged.status_code == 403
        assert "did not come from this site" in forged.text
    with signed_in(url, other, "zh") as (client, token):
        answer = client.post(f"/sharing/resources/{resource_id}/files", params={"csrf_token": token},
                             data={"as_of": "2026-03-01"}, files={"file": ("a.csv", _file(10), "text/csv")})
        assert answer.status_code == 403
    assert _left_behind(settings, isolated_database) == ([], [], 0)


@pytest.mark.slow
def test_a_form_cut_off_mid_file_leaves_nothing(served, isolated_database) -> None:  # type: ignore[no-untyped-def]
    url, settings, resource_id, owner, _other = served
    with signed_in(url, owner, "zh") as (client, token):
        cookies = f"qs_session={client.cookies['qs_session']}; qs_csrf={client.cookies['qs_csrf']}"
    host = url.removeprefix("http://").split(":")[0]
    part = (b'--cut\r\nContent-Disposition: form-data; name="as_of"\r\n\r\n2026-03-01\r\n'
            b'--cut\r\nContent-Disposition: form-data; name="file"; filename="cut.csv"\r\n\r\n')
    head = (f"POST /sharing/resources/{resource_id}/files?csrf_token={token} HTTP/1.1\r\nHost: {host}\r\n"
            f"Cookie: {cookies}\r\n"
            f"Content-Type: multipart/form-data; boundary=cut\r\nContent-Length: {5 * 1024 * 1024}\r\n\r\n").encode()
    # ~1.8 MiB of the 5 declared, then the connection closes
    cut_off(url, head + part + HEADER + ROW * 60_000, settings, isolated_database)
    # a body that ends (chunked) before the form's closing boundary: refused, nothing kept
    with signed_in(url, owner, "zh") as (client, token):
        def unclosed() -> Iterator[bytes]:
            yield part + HEADER + ROW * 10

        answer = client.post(f"/sharing/resources/{resource_id}/files", params={"csrf_token": token},
                             content=unclosed(), headers={"Content-Type": "multipart/form-data; boundary=cut"})
        assert answer.status_code == 422
        assert "表单数据格式错误" in field_error(answer.text, "file")
        again = client.post(f"/sharing/resources/{resource_id}/files", params={"csrf_token": token},
                            data={"as_of": "2026-03-01"}, files={"file": ("whole.csv", _file(10), "text/csv")})
        assert again.status_code == 303  # the server is fine afterwards
