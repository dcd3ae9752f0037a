"""Admission control: a bounded number of requests in progress per process, a short queue, and
an immediate 503 with ``Retry-After`` beyond it.

Without it, a burst of clients (a hundred concurrent reads, a thousand proof requests) took more
database connections and worker threads than exist, waited 30 s for them and failed with 500s,
and the process needed minutes to drain the backlog after the burst. With it, at most
``max_concurrent_requests`` requests run, up to ``request_queue_max`` more wait at most
``request_queue_seconds`` for a turn, and the rest are refused at once: the server answers what
it can quickly, says "try again" to the rest, and recovers the moment load falls.

Plain ASGI (see ``web/middleware.py`` for why). ``/healthz`` and static files bypass it: they
touch neither the database nor the thread pool, and the liveness probe must answer under load.
A ``GET /healthz`` is answered here, before routing, dependencies and the response machinery
(the route in ``web/pages.py`` says the same and documents it): the probe's time on the event
loop is what a busy worker makes it wait for, so it does as little as possible.
"""

from __future__ import annotations

import asyncio
import json

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from qianshu.core.i18n import DEFAULT_LANGUAGE, translate

BUSY_MESSAGE = "The server is busy; please try again in a moment."
RETRY_AFTER_SECONDS = 1


class AdmissionControl:
    def __init__(self, app: ASGIApp, max_concurrent: int, queue_max: int, queue_seconds: float) -> None:
        self.app = app
        self.max_concurrent, self.queue_max, self.queue_seconds = max_concurrent, queue_max, queue_seconds
        self._slots: asyncio.Semaphore | None = None  # made on the event loop that serves requests
        self._waiting = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path == "/healthz" and scope.get("method") in ("GET", "HEAD"):
            await _healthy(scope, send)
            return
        if scope["type"] != "http" or path == "/healthz" or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_concurrent)
        slots = self._slots
        if slots.locked():
            if self._waiting >= self.queue_max:
                await _refuse(scope, send)
                return
            self._waiting += 1
            try:
                await asyncio.wait_for(slots.acquire(), self.queue_seconds)
            except TimeoutError:
                await _refuse(scope, send)
                return
            finally:
                self._waiting -= 1
        else:
            await slots.acquire()
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release()


HEALTHY_BODY = b'{"status":"ok"}'
HEALTHY_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(HEALTHY_BODY)).encode()),
                   (b"cache-control", b"no-store")]


async def _healthy(scope: Scope, send: Send) -> None:
    """The liveness probe's answer (what ``web/pages.py``'s ``/healthz`` route answers)."""
    await send({"type": "http.response.start", "status": 200, "headers": list(HEALTHY_HEADERS)})
    await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else HEALTHY_BODY})


async def _refuse(scope: Scope, send: Send) -> None:
    """503 problem+json (or a short page for the portal) in the client's language, which the
    language middleware, outside this one, has already chosen."""
    headers = Headers(scope=scope)
    api = scope.get("path", "").startswith("/api/")
    lang = scope.get("state", {}).get("lang", DEFAULT_LANGUAGE)
    detail = translate(BUSY_MESSAGE, lang)
    if api or "application/json" in headers.get("accept", ""):
        body = json.dumps({"type": "https://qianshu.dev/problems/server_busy", "title": "server busy",
                           "status": 503, "code": "server_busy", "detail": detail,
                           "instance": scope.get("path", "")}, ensure_ascii=False).encode()
        media = b"application/problem+json"
    else:
        body = (f"<!doctype html><html lang=\"{lang}\"><meta charset=\"utf-8\"><title>503</title>"
                f"<p>{detail}</p></html>").encode()
        media = b"text/html; charset=utf-8"
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", media), (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()), (b"content-language", lang.encode()),
        (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
