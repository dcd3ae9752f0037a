"""Request bodies are read whole and bounded before the app runs (web/body_limits.py); the body
parsers' refusals and unexpected errors are real bilingual problems."""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Iterable
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from qianshu.core.body_rules import BodyRule
from qianshu.core.errors import QianshuError
from qianshu.registry.certificate import MAX_CERTIFICATE_BYTES
from qianshu.registry.settings import RegistrySettings
from qianshu.web import body_limits
from qianshu.web.body_limits import RequestLimitsMiddleware


class Sent:
    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.consumed = 0  # body chunks the server asked for

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        import json

        return json.loads(self.body)


def call(app: Any, method: str, path: str, headers: dict[str, str], chunks: Iterable[bytes],
         every: float = 0.0) -> Sent:
    """One request straight through the ASGI app, its body from ``chunks`` (an endless iterator
    stands for a client that would send forever) one chunk per ``receive``."""
    sent = Sent()
    iterator = iter(chunks)
    pending = next(iterator, None)

    async def receive() -> dict[str, Any]:
        nonlocal pending
        if pending is None:
            return {"type": "http.disconnect"}
        if every:
            await anyio.sleep(every)
        chunk, pending = pending, next(iterator, None)
        sent.consumed += 1
        return {"type": "http.request", "body": chunk, "more_body": pending is not None}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.status = message["status"]
            sent.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            sent.body += message.get("body", b"")

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}
    # On a thread of its own: a browser test in the same worker may leave an event loop running here.
    failures: list[BaseException] = []

    def run() -> None:
        try:
            anyio.run(app, scope, receive, send)
        except BaseException as exc:  # re-raised below, in the test thread
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if failures:
        raise failures[0]
    return sent


def endless(size: int = 64 * 1024) -> Iterable[bytes]:
    return itertools.repeat(b"x" * size)


def test_a_declared_body_over_the_limit_is_refused_unread(app) -> None:
    for lang, detail in [("en", "The request body is larger than the limit of 1048576 bytes."),
                         ("zh", "请求体超过 1048576 字节的上限。")]:
        r = call(app, "POST", "/api/v1/registrations", {"content-length": str(10**9), "accept-language": lang,
                                                        "content-type": "application/json"}, endless())
        assert r.status == 413
        assert r.consumed == 0
        assert r.headers["content-type"] == "application/problem+json"
        assert (r.json()["code"], r.json()["detail"]) == ("payload_too_large", detail)


def test_an_undeclared_body_stops_being_read_at_the_limit(app) -> None:
    r = call(app, "POST", "/api/v1/registrations", {"transfer-encoding": "chunked",
                                                    "content-type": "application/json"}, endless())
    assert r.status == 413
    assert r.consumed == 17  # 16 chunks of 64 KiB are the 1 MiB limit; the 17th passes it


def test_the_certificate_check_refuses_a_large_body_before_reading_it(app) -> None:
    page = call(app, "POST", "/registry/verify", {"content-length": str(10**9),
                                                  "content-type": "multipart/form-data; boundary=x"}, endless())
    assert page.status == 413
    assert page.consumed == 0
    assert "请求体超过" in page.text
    undeclared = call(app, "POST", "/registry/verify", {"transfer-encoding": "chunked",
                                                        "content-type": "multipart/form-data; boundary=x"},
                      endless(1024))
    assert undeclared.status == 413
    assert undeclared.consumed == (MAX_CERTIFICATE_BYTES + 64 * 1024) // 1024 + 1
    api = call(app, "POST", "/api/v1/registrations/certificates/verify",
               {"transfer-encoding": "chunked", "content-type": "application/json"}, endless(1024))
    assert api.status == 413
    assert api.consumed == MAX_CERTIFICATE_BYTES // 1024 + 1


def test_a_body_that_takes_too_long_is_refused_with_408(app, settings) -> None:
    settings.body_read_timeout_seconds = 0.3
    r = call(app, "POST", "/api/v1/registrations", {"content-length": "1000", "accept-language": "en",
                                                    "content-type": "application/json"},
             [b"x"] * 1000, every=0.05)
    assert r.status == 408
    assert r.consumed < 10
    assert (r.json()["code"], r.json()["detail"]) == (
        "request_timeout", "The request body did not arrive within 0.3 seconds.")
    zh = call(app, "POST", "/sign-in", {"content-length": "1000", "content-type": "application/x-www-form-urlencoded"},
              [b"x"] * 1000, every=0.05)
    assert zh.status == 408
    assert "请求体未在 0.3 秒内传完。" in zh.text


def test_a_large_body_waits_on_disk_and_reaches_the_app_whole(settings, monkeypatch) -> None:
    spools: list[Any] = []
    real = body_limits.tempfile.TemporaryFile

    def counting() -> Any:
        spools.append(real())
        return spools[-1]

    monkeypatch.setattr(body_limits.tempfile, "TemporaryFile", counting)

    async def echo(scope: Any, receive: Any, send: Any) -> None:
        body = await Request(scope, receive).body()
        await JSONResponse({"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)})(scope, receive, send)

    def refuse(request: Request, error: QianshuError) -> Response:
        return Response(error.code, status_code=error.status)

    middleware = RequestLimitsMiddleware(echo, settings, [BodyRule("POST", r"/up", lambda s: 10 * 1024**2)], refuse)
    data = bytes(range(256)) * (12 * 1024)  # 3 MiB
    chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    r = call(middleware, "POST", "/up", {"content-length": str(len(data))}, chunks)
    assert r.json() == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert len(spools) == 1
    assert spools[0].closed
    small = call(middleware, "POST", "/up", {"content-length": "5"}, [b"hello"])
    assert small.json()["size"] == 5
    assert len(spools) == 1  # small bodies stay in memory
    assert call(middleware, "POST", "/elsewhere", {"content-length": str(len(data))}, chunks).status == 413


def test_streamed_uploads_are_not_buffered_and_keep_their_own_limits(client, app, settings, make, bearer) -> None:
    settings.request_max_bytes = 1000
    h = bearer(make.user(organisation=make.org(org_type="data_merchant")))
    rid = client.post("/api/v1/registrations", json={}, headers=h).json()["id"]
    upload = client.put(f"/api/v1/registrations/{rid}/files/a.csv", content=b"a,b\n" * 2000, headers=h)
    assert upload.status_code == 201  # 8,000 bytes: the data-file limit, not request_max_bytes
    settings.override(RegistrySettings, upload_max_bytes=5000)
    declared = call(app, "PUT", f"/api/v1/registrations/{rid}/files/b.csv", h | {"content-length": "6000"},
                    endless())
    assert declared.status == 413
    assert declared.consumed == 0


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_form_parser_refusals_are_bilingual_with_stable_codes(client, lang: str) -> None:
    client.cookies.set("qs_lang", lang)
    many = client.post("/sign-in", content="&".join(f"f{i}=1" for i in range(1001)),
                       headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
    assert many.status_code == 400
    assert many.json()["code"] == "form_too_many_fields"
    assert many.json()["detail"] == {"zh": "表单字段过多（最多 1000 个）。",
                                     "en": "The form has too many fields (at most 1000)."}[lang]
    big_field = client.post("/registry/1/objection", data={"grounds": "异" * 400_000},
                            files={"evidence": ("a.txt", b"x", "text/plain")}, headers={"Accept": "application/json"})
    assert big_field.status_code == 400
    assert big_field.json()["code"] == "form_field_too_large"
    assert big_field.json()["detail"] == {"zh": "表单字段超过 1024 KB 的上限。",
                                          "en": "A form field is larger than the limit of 1024 KB."}[lang]
    page = client.post("/registry/1/objection", content=b"--x--",
                       headers={"Content-Type": "multipart/form-data"})
    assert page.status_code == 400
    missing = {"zh": "表单缺少 multipart 分隔符。", "en": "The multipart boundary of the form is missing."}
    assert missing[lang] in page.text
    assert "Missing boundary" not in page.text


def test_an_unexpected_error_is_a_real_problem(app) -> None:
    def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/v1/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        for lang, detail in [("en", "Internal error; it has been logged."), ("zh", "内部错误，已记录。")]:
            r = client.get("/api/v1/boom", headers={"Accept-Language": lang})
            assert r.status_code == 500
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json() == {"type": "https://qianshu.dev/problems/internal", "title": "internal",
                                "status": 500, "code": "internal", "detail": detail, "instance": "/api/v1/boom"}
            assert "a bug" not in r.text


def test_a_streamed_upload_is_never_read_as_a_form_for_its_csrf_token(client, app, make) -> None:
    from tests.registry.helpers import sign_in

    user = make.user(organisation=make.org(org_type="data_merchant"))
    token = sign_in(client, user)
    rid = client.post("/api/v1/registrations", json={}, headers={"X-CSRF-Token": token}).json()["id"]
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    r = call(app, "PUT", f"/api/v1/registrations/{rid}/files/a.csv",
             {"cookie": cookie, "content-type": "application/x-www-form-urlencoded", "content-length": "100000"},
             endless(1000))
    assert r.status == 403  # the token must come in the header; the body was not touched
    assert r.consumed == 0
