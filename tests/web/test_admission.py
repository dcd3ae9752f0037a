"""Admission control: excess load waits briefly or is refused at once with 503 + Retry-After."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from qianshu.core.settings import Settings
from qianshu.web.admission import AdmissionControl
from qianshu.web.middleware import LanguageAndSecurityMiddleware
from tests.async_support import run_async


class SlowApp:
    """An ASGI app whose requests take ``seconds``; counts how many ran at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.running, self.peak = seconds, 0, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(self.seconds)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        finally:
            self.running -= 1


def _served(inner: ASGIApp, **limits: Any) -> ASGIApp:
    """Admission control as the app mounts it: inside the language middleware, which chooses the
    language of its refusals."""
    settings = Settings(environment="test", secret_key="test-secret-" + "x" * 32)
    return LanguageAndSecurityMiddleware(AdmissionControl(inner, **limits), settings=settings)


async def _burst(app: ASGIApp, paths: list[str], headers: dict[str, str] | None = None,
                 ) -> list[httpx.Response]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return list(await asyncio.gather(*(client.get(p, headers=headers) for p in paths)))


def test_a_burst_beyond_the_queue_is_refused_at_once_and_the_rest_served() -> None:
    inner = SlowApp(0.3)
    app = _served(inner, max_concurrent=2, queue_max=2, queue_seconds=5)
    started = run_async(lambda: asyncio.wait_for(_burst(app, ["/api/v1/x"] * 10), 10))
    served = [r for r in started if r.status_code == 200]
    refused = [r for r in started if r.status_code == 503]
    assert len(served) == 4
    assert len(refused) == 6
    assert inner.peak == 2
    for r in refused:
        assert r.headers["retry-after"] == "1"
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "server_busy"
        assert r.json()["detail"] == "服务器繁忙，请稍后再试。"  # Chinese unless the client asks


def test_waiting_longer_than_the_queue_allows_is_refused_in_english_when_asked() -> None:
    app = _served(SlowApp(1.0), max_concurrent=1, queue_max=10, queue_seconds=0.1)
    answers = run_async(lambda: _burst(app, ["/api/v1/x"] * 3, headers={"Accept-Language": "en"}))
    assert sorted(r.status_code for r in answers) == [200, 503, 503]
    refused = next(r for r in answers if r.status_code == 503)
    assert refused.json()["detail"] == "The server is busy; please try again in a moment."


def test_the_portal_gets_a_page_and_health_bypasses_the_queue() -> None:
    inner = SlowApp(0.3)
    app = _served(inner, max_concurrent=1, queue_max=0, queue_seconds=0)
    answers = run_async(lambda: _burst(app, ["/catalog", "/catalog", "/healthz", "/static/x.css"]))
    statuses = [r.status_code for r in answers]
    assert statuses.count(503) == 1
    assert statuses[2:] == [200, 200]
    page = next(r for r in answers if r.status_code == 503)
    assert page.headers["content-type"].startswith("text/html")
    assert "服务器繁忙" in page.text


def test_after_a_burst_the_server_answers_at_once() -> None:
    inner = SlowApp(0.05)
    app = _served(inner, max_concurrent=4, queue_max=4, queue_seconds=1)

    async def burst_then_one() -> httpx.Response:
        await _burst(app, ["/api/v1/x"] * 200)
        return (await _burst(app, ["/api/v1/x"]))[0]

    assert run_async(burst_then_one).status_code == 200
    assert inner.running == 0
