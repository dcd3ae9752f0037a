"""A portal form with one large file, read as it arrives instead of whole before the route runs.

Starlette's form parser needs the whole body first (``web/body_limits.py`` reads it, bounded, before
any route runs); for a form whose file may be hundreds of megabytes that means the body waits on
disk twice and the route then works inside its transaction. A route declared with a ``stream=True``
body rule (``core/body_rules.py``) reads its multipart body with :class:`StreamedForm` instead, on a
worker thread, with no transaction open: the short text fields are collected (bounded), and the one
file part is handed on chunk by chunk (to the blob store, which hashes and bounds it) as it
arrives, never held whole. The CSRF token of such a form travels in the action's query string
(``core/csrf.py``): the body is never parsed before the route.

:func:`read_upload` is the one way a route receives such a form (the sharing feed's and monitoring's
upload forms, and monitoring's API): who may upload is asked before a byte of the file is read, the
file is bounded as it arrives, and whatever goes wrong leaves nothing behind. The route runs it
through ``core.http.receive_streamed``, which reads the body on a worker thread and, after a
refusal, drains what is left of it (a little: ``core.http.drain_body``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from qianshu.core.errors import InvalidInput, PayloadTooLarge

FIELD_BYTES = 64 * 1024  # a text field of the form, at most
FORM_SLACK = 256 * 1024  # the text fields and part headers around the file, at most, altogether
MALFORMED = "The form data is malformed."  # the same words as web/app.py's refusal of a bad form
T = TypeVar("T")


def bounded(chunks: Iterable[bytes], limit: int, too_large: PayloadTooLarge) -> Iterator[bytes]:
    """The chunks, refused with ``too_large`` as soon as their running total passes ``limit``."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise too_large
        yield chunk


class StreamedForm:
    """A ``multipart/form-data`` body as it arrives: :meth:`open_file` reads up to the file part
    named ``file_field`` (collecting the text fields before it), :meth:`file_chunks` hands on its
    bytes, :meth:`rest` reads what follows. A body that ends before its closing boundary, or is not
    multipart at all, is refused (422 ``form_malformed``, naming ``file_field``); a form sent
    url-encoded (without its file) gives its fields and no file part."""

    def __init__(self, chunks: Iterable[bytes], content_type: str, file_field: str = "file") -> None:
        kind, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        self._urlencoded = kind == b"application/x-www-form-urlencoded"  # a form sent without its file
        if not self._urlencoded and (kind != b"multipart/form-data" or not boundary):
            raise self._malformed(file_field)
        self.file_field = file_field
        self.fields: dict[str, str] = {}
        self._chunks = iter(chunks)
        self._events: deque[tuple[str, Any]] = deque()
        self._headers: dict[bytes, bytes] = {}
        self._header = [b"", b""]
        self._part: str | None = None  # "file", "field" or "skip"
        self._name = ""
        self._value = bytearray()
        self._file_seen = False
        self._ended = False
        self._body_done = False
        callbacks: Any = {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
            "on_part_end": self._part_end, "on_end": self._end}
        self._parser = MultipartParser(boundary or b"-", callbacks)

    @classmethod
    def of(cls, headers: Mapping[str, str], chunks: Iterable[bytes], limit: int,
           too_large: PayloadTooLarge) -> StreamedForm:
        """A request's form, whose whole body may be at most ``limit`` bytes (``too_large`` else): a
        declared length over it is refused before a byte is read, a chunked body as soon as it passes."""
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        return cls(bounded(chunks, limit, too_large), headers.get("content-type", ""))

    @property
    def chunks(self) -> Iterator[bytes]:
        """The body's unread chunks (to drain them)."""
        return self._chunks

    # --- reading ---------------------------------------------------------------------------------

    def open_file(self) -> str | None:
        """Read up to the file part: its file name ("" when the form's file input was left empty),
        or None when the form has no such part."""
        if self._urlencoded:
            self._read_urlencoded()
            return None
        while True:
            while self._events:
                kind, value = self._events.popleft()
                if kind == "file":
                    return str(value)
            if not self._pump():
                return None

    def file_chunks(self) -> Iterator[bytes]:
        """The file part's bytes as they arrive (after :meth:`open_file`)."""
        while True:
            while self._events:
                kind, value = self._events.popleft()
                if kind == "data":
                    yield value
                elif kind == "file_end":
                    return
            if not self._pump():
                raise self._malformed(self.file_field)

    def rest(self) -> dict[str, str]:
        """Read the rest of the body; the text fields, before and after the file."""
        while self._pump():
            pass
        self._events.clear()
        return self.fields

    def _read_urlencoded(self) -> None:
        body = bytearray()
        for chunk in self._chunks:
            body += chunk
            if len(body) > FORM_SLACK:
                raise InvalidInput("{field}: the value is too long.", field="form", code="too_long")
        for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            self.fields.setdefault(name, value)
        self._body_done = True

    def _pump(self) -> bool:
        """Feed the parser the next chunk; False once the body has ended."""
        if self._body_done:
            return False
        chunk = next(self._chunks, None)
        if chunk is None:
            self._body_done = True
            if not self._ended:
                raise self._malformed(self.file_field)
            return False
        try:
            self._parser.write(chunk)
        except FormParserError:
            raise self._malformed(self.file_field) from None
        return True

    @staticmethod
    def _malformed(field: str) -> InvalidInput:
        return InvalidInput(MALFORMED, field=field, code="form_malformed")

    # --- the parser's callbacks --------------------------------------------------------------

    def _part_begin(self) -> None:
        self._headers, self._header = {}, [b"", b""]

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header[0] += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._header[1] += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header[0].lower()] = self._header[1]
        self._header = [b"", b""]

    def _headers_finished(self) -> None:
        _disposition, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is not None:
            is_ours = self._name == self.file_field and not self._file_seen
            self._part = "file" if is_ours else "skip"
            if is_ours:
                self._file_seen = True
                self._events.append(("file", filename.decode("utf-8", "replace")))
        else:
            self._part, self._value = "field", bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part == "file":
            self._events.append(("data", bytes(data[start:end])))
        elif self._part == "field":
            self._value += data[start:end]
            if len(self._value) > FIELD_BYTES:
                raise InvalidInput("{field}: the value is too long.", field=self._name or "form", code="too_long")

    def _part_end(self) -> None:
        if self._part == "file":
            self._events.append(("file_end", None))
        elif self._part == "field":
            self.fields.setdefault(self._name, self._value.decode("utf-8", "replace"))
        self._part = None

    def _end(self) -> None:
        self._ended = True


@dataclass
class ReceivedForm(Generic[T]):
    """A streamed form as received: its file's name, what was made of the file, every text field."""

    name: str
    kept: T
    fields: dict[str, str]


def _anyone(_fields: Mapping[str, str]) -> None:
    return None


def _nothing_to_discard(_kept: object) -> None:
    return None


@contextmanager
def read_upload(headers: Mapping[str, str], chunks: Iterable[bytes], limit: int, too_large: PayloadTooLarge,
                keep: Callable[[str, Iterator[bytes]], T], *,
                allowed: Callable[[Mapping[str, str]], None] = _anyone,
                discard: Callable[[T], object] = _nothing_to_discard,
                seen: dict[str, str] | None = None) -> Iterator[ReceivedForm[T]]:
    """Receive a form with one file of at most ``limit`` bytes (``too_large`` else), on a worker
    thread with no transaction open: the text fields before the file are read, then
    ``allowed(fields)`` is asked (who may upload: before a byte of the file is read); a form without
    its file is refused beside the field; ``keep(name, chunks)`` is handed the file as it arrives
    (bounded) and may refuse it (it leaves nothing of a refused file); the fields after the file
    are read last. ``seen`` collects the text fields as they are read, to show the form again with
    a refusal's error. Once the file is kept, anything that goes wrong, in the body or in the
    ``with`` block, ``discard``s it: nothing is left behind."""
    form = StreamedForm.of(headers, chunks, limit + FORM_SLACK, too_large)
    name = form.open_file()
    if seen is not None:
        seen.update(form.fields)
    allowed(form.fields)
    if not name:
        raise InvalidInput("Choose the file to upload.", field=form.file_field)
    kept = keep(name, bounded(form.file_chunks(), limit, too_large))
    try:
        fields = form.rest()
        if seen is not None:
            seen.update(fields)
        yield ReceivedForm(name, kept, fields)
    except BaseException:
        discard(kept)
        raise
