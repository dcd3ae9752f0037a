"""Request limits enforced before routing: body size and read time, and numbers a database can hold.

**Bodies.** A route runs inside the request's transaction (on SQLite a write transaction holds
the database's one write lock), so it must never wait on the network: a slowly dripped body would
hold the lock for as long as the client pleases. :class:`RequestLimitsMiddleware` therefore reads
every request body whole before the application sees the request, then replays it. The body may
be at most its route's limit (:mod:`qianshu.core.body_rules`; ``request_max_bytes`` by default):
a larger declared ``Content-Length`` is refused with 413 at once, and reading stops as soon as the
running total passes the limit. The whole body must arrive within ``body_read_timeout_seconds``
(else 408). Bodies over :data:`SPOOL_BYTES` wait in a temporary file, not in memory. Routes that
stream their body into the blob store outside any transaction (``stream=True`` rules) are not
buffered; they bound what they read themselves, at a pace they must keep (``core.body_rules.BodyPace``:
``body_read_timeout_seconds`` plus a second per ``streamed_body_min_bytes_per_second`` bytes, else 408),
and an answer after which part of such a body is left unread (a refusal, ``core.http.drain_body``)
closes the connection: the rest is not taken in.

**Numbers.** Identifiers are 64-bit integers in the database; a larger number in the path, in an
integer query parameter or in a JSON body would reach the database driver and fail there. A path
segment of digits out of that range names nothing (404); such a query value or JSON number is
refused with a 422 naming the field. (``web/app.py`` also turns a driver's out-of-range error
into a 422, for whatever these checks do not see, such as form fields.)

Plain ASGI, like ``web/middleware.py``: ``BaseHTTPMiddleware`` would cost a task and memory
channels per request.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any
from urllib.parse import parse_qsl

import anyio
import anyio.to_thread
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qianshu.core.body_rules import BODY_IN_HAND, BODY_LEFT_UNREAD, BODY_PACE, BodyPace, BodyRule
from qianshu.core.errors import InvalidInput, NotFound, PayloadTooLarge, QianshuError, RequestTimeout
from qianshu.core.settings import Settings

SPOOL_BYTES = 1024**2  # a body larger than this waits on disk
REPLAY_CHUNK = 256 * 1024
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Only a run of 19 or more digits can be out of the 64-bit range: the cheap test before a parse.
_LONG_DIGITS = re.compile(r"\d{19,}")
_LONG_DIGITS_BYTES = re.compile(rb"\d{19,}")
_INTEGER = re.compile(r"\s*[-+]?\d+\s*")

Responder = Callable[[Request, QianshuError], Response]


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


def out_of_range(value: int) -> bool:
    return not INT64_MIN <= value <= INT64_MAX


def _big_integer(text: str) -> bool:
    return _INTEGER.fullmatch(text) is not None and out_of_range(int(text))


def first_big_number(value: Any, path: str = "") -> str | None:
    """The dotted path of the first integer in parsed JSON that a 64-bit column cannot hold."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (path or "body") if out_of_range(value) else None
    if isinstance(value, dict):
        items: Iterable[tuple[str, Any]] = ((str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return None
    for key, item in items:
        found = first_big_number(item, f"{path}.{key}" if path else key)
        if found:
            return found
    return None


def integer_query_names(app: Any) -> frozenset[str]:
    """Names of the query parameters that some route declares as an integer (and none as
    anything else: a text parameter of the same name may well hold a long number)."""
    integers: set[str] = set()
    others: set[str] = set()

    def visit(dependant: Any) -> None:
        for param in getattr(dependant, "query_params", ()):
            annotation = param.field_info.annotation
            kinds = set(typing.get_args(annotation)) | {annotation}
            (integers if int in kinds else others).add(param.alias)
        for sub in getattr(dependant, "dependencies", ()):
            visit(sub)

    def walk(routes: Iterable[Any]) -> None:
        for route in routes:
            dependant = getattr(route, "dependant", None)
            if dependant is not None:
                visit(dependant)
            included = getattr(route, "original_router", None)  # an included router's own routes
            if included is not None:
                walk(included.routes)

    walk(getattr(app, "routes", ()))
    return frozenset(integers - others)


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, rules: Sequence[BodyRule], respond: Responder) -> None:
        self.app = app
        self.settings = settings
        self.rules = tuple(rules)
        self.respond = respond
        self._integer_queries: frozenset[str] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._number_refusal(scope)
        if refusal is not None:
            await self._refuse(scope, receive, send, refusal)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared in (None, "0") and "transfer-encoding" not in headers:
            scope[BODY_IN_HAND] = True  # there is no body
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        rule = next((r for r in self.rules if r.matches(method, path)), None)
        limit = rule.limit(self.settings) if rule else self.settings.request_max_bytes
        if rule is not None and rule.stream:
            # An upload streamed into the blob store: the route refuses a declared length over its
            # limit before reading a byte, with the file's error (registry ``store_upload``, the
            # same as the portal's form files get), and bounds what it reads, at a pace it must keep.
            scope[BODY_PACE] = BodyPace(time.monotonic(), self.settings.body_read_timeout_seconds,
                                        self.settings.streamed_body_min_bytes_per_second)
            await self.app(scope, receive, _closing_if_left_unread(scope, send))
            return
        try:
            too_large = declared is not None and int(declared) > limit
        except ValueError:
            too_large = False  # the server refuses a malformed length before we are called
        if too_large:
            await self._refuse(scope, receive, send, self._too_large(limit))
            return
        await self._buffered(scope, receive, send, limit, headers)

    # --- numbers ------------------------------------------------------------------------------

    def _number_refusal(self, scope: Scope) -> QianshuError | None:
        path: str = scope["path"]
        if _LONG_DIGITS.search(path) and any(_big_integer(part) for part in path.split("/") if part):
            return NotFound("Not found.")
        query: bytes = scope.get("query_string", b"")
        if query and _LONG_DIGITS_BYTES.search(query):
            if self._integer_queries is None:
                self._integer_queries = integer_query_names(scope.get("app"))
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if name in self._integer_queries and _big_integer(value):
                    return _number_error(name)
        return None

    # --- bodies -------------------------------------------------------------------------------

    async def _buffered(self, scope: Scope, receive: Receive, send: Send, limit: int, headers: Headers) -> None:
        memory: list[bytes] = []
        spool: IO[bytes] | None = None
        try:
            try:
                with anyio.fail_after(self.settings.body_read_timeout_seconds):
                    memory, spool, total = await _read_body(receive, limit)
            except TimeoutError:
                await self._refuse(scope, receive, send, RequestTimeout(
                    "The request body did not arrive within {seconds} seconds.",
                    seconds=f"{self.settings.body_read_timeout_seconds:g}"))
                return
            except _TooLarge:
                await self._refuse(scope, receive, send, self._too_large(limit))
                return
            except _Disconnected:
                return  # nobody to answer
            if spool is None and _is_json(headers):
                body = b"".join(memory)
                memory = [body]
                if _LONG_DIGITS_BYTES.search(body):
                    field = _big_number_in_json(body)
                    if field is not None:
                        await self._refuse(scope, receive, send, _number_error(field))
                        return
            scope[BODY_IN_HAND] = True
            await self.app(scope, _replay(receive, memory, spool, total), send)
        finally:
            if spool is not None:
                spool.close()

    def _too_large(self, limit: int) -> QianshuError:
        return PayloadTooLarge("The request body is larger than the limit of {limit} bytes.", limit=limit,
                               code="payload_too_large")

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, error: QianshuError) -> None:
        request = Request(scope, receive)
        response = self.respond(request, error)
        await response(scope, receive, send)


def _closing_if_left_unread(scope: Scope, send: Send) -> Send:
    """``send``, with ``Connection: close`` added to the answer of a streamed route that left part
    of its body unread: the server then ends the connection after the answer."""

    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start" and scope.get(BODY_LEFT_UNREAD):
            message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
        await send(message)

    return closing


def _number_error(field: str) -> InvalidInput:
    return InvalidInput("{field} is out of range.", field=field)


def _is_json(headers: Headers) -> bool:
    kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _big_number_in_json(body: bytes) -> str | None:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None  # the route says what is wrong with it
    try:
        return first_big_number(parsed)
    except RecursionError:
        return None


async def _read_body(receive: Receive, limit: int) -> tuple[list[bytes], IO[bytes] | None, int]:
    """The whole body: in memory up to SPOOL_BYTES, beyond that in a temporary file (written
    on a worker thread, a megabyte at a time)."""
    memory: list[bytes] = []
    pending = 0
    total = 0
    spool: IO[bytes] | None = None
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk: bytes = message.get("body", b"")
            if chunk:
                total += len(chunk)
                if total > limit:
                    raise _TooLarge
                memory.append(chunk)
                pending += len(chunk)
                if total > SPOOL_BYTES and pending >= SPOOL_BYTES:
                    spool = spool or tempfile.TemporaryFile()  # noqa: SIM115 - closed by the caller
                    await anyio.to_thread.run_sync(_write, spool, memory)
                    memory, pending = [], 0
            if not message.get("more_body", False):
                break
        if spool is not None:
            await anyio.to_thread.run_sync(_write, spool, memory)
            spool.seek(0)
            memory = []
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    return memory, spool, total


def _write(spool: IO[bytes], chunks: list[bytes]) -> None:
    for chunk in chunks:
        spool.write(chunk)


def _replay(receive: Receive, memory: list[bytes], spool: IO[bytes] | None, total: int) -> Receive:
    """A ``receive`` that hands the app the body already read, then the real channel (which
    then only reports a disconnect)."""
    sent = 0
    done = False

    async def replay() -> Message:
        nonlocal sent, done
        if done:
            return await receive()
        if spool is None:
            done = True
            return {"type": "http.request", "body": b"".join(memory), "more_body": False}
        chunk = await anyio.to_thread.run_sync(spool.read, REPLAY_CHUNK)
        sent += len(chunk)
        done = sent >= total or not chunk
        return {"type": "http.request", "body": chunk, "more_body": not done}

    return replay
