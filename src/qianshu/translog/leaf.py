"""The leaf: RFC 8785 canonical JSON of ``{"type", "at", "payload"}``.

:func:`qianshu.core.canonical.canonical_json` is the reference. It is pure Python and takes
~30 µs for a typical event, which alone would cap batch appends near 35,000 leaves/s. For
the JSON subset events actually use (dicts with string keys, lists, strings, booleans,
null and integers within ±(2**53 − 1), no float) the standard library's C encoder with
sorted keys and no ASCII escaping emits exactly the RFC 8785 bytes:

- strings: both escape ``"``, ``\\``, ``\\b \\f \\n \\r \\t`` and other controls as ``\\u00xx``
  (lower-case hex) and leave every other character as UTF-8;
- integers in the safe range print the same as ECMAScript numbers;
- key order: RFC 8785 sorts by UTF-16 code units, Python by code points; the two agree
  unless a key holds a character beyond U+FFFF, which the fast path refuses.

Anything else (floats, non-BMP keys, lone surrogates, other types) goes to the reference
implementation. A property test pins the equivalence.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from qianshu.core.canonical import canonical_json

MAX_SAFE_INTEGER = 2**53 - 1
_BMP_END = "\uffff"
_string = json.encoder.encode_basestring  # the C string encoder, no ASCII escaping
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True,
                           allow_nan=False, check_circular=False).encode


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        return _plain_dict(value)
    if kind is list:
        return _plain_list(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    return False


# _plain_dict and _plain_list inline the scalar cases: one call per container, not per value.
def _plain_dict(value: dict[Any, Any]) -> bool:
    for key, item in value.items():
        if type(key) is not str or (not key.isascii() and max(key) > _BMP_END):
            return False
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return False
        elif kind is dict:
            if not _plain_dict(item):
                return False
        elif kind is list:
            if not _plain_list(item):
                return False
        else:
            return False
    return True


def _plain_list(value: list[Any]) -> bool:
    for item in value:
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return False
        elif kind is dict:
            if not _plain_dict(item):
                return False
        elif kind is list:
            if not _plain_list(item):
                return False
        else:
            return False
    return True


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 bytes of ``value`` (fast path where provably identical, else the reference)."""
    if _plain(value):
        try:
            return _encode(value).encode("utf-8")
        except (UnicodeEncodeError, RecursionError):
            pass
    return canonical_json(value)


def format_at(at: datetime) -> str:
    """ISO-8601 UTC with microseconds and ``Z``: ``2026-11-22T06:00:00.123456Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_event(event_type: str, at: str, payload: dict[str, Any]) -> bytes:
    if type(event_type) is str and type(at) is str and type(payload) is dict and _plain_dict(payload):
        # The outer object's keys are already in order ("at" < "payload" < "type"): encode
        # the payload alone and the two strings with the same C string encoder.
        try:
            return f'{{"at":{_string(at)},"payload":{_encode(payload)},"type":{_string(event_type)}}}'.encode()
        except (UnicodeEncodeError, RecursionError):
            pass
    return canonical_json({"type": event_type, "at": at, "payload": payload})
