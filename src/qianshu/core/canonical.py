"""RFC 8785 (JSON Canonicalization Scheme) for everything that is hashed or signed."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

MAX_SAFE_INTEGER = 2**53 - 1


def _interoperable(value: Any) -> Any:
    """RFC 8785 numbers are IEEE doubles: an integer beyond 2^53 is written as the double it
    equals (1e20 stays 1e20 after a JSON round trip), or refused when no double equals it."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and abs(value) > MAX_SAFE_INTEGER:
        as_float = float(value)
        if as_float != value:
            raise ValueError(f"integer {value} cannot be represented exactly in canonical JSON")
        return as_float
    if isinstance(value, dict):
        return {k: _interoperable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_interoperable(v) for v in value]
    return value


def canonical_json(value: Any) -> bytes:
    return bytes(rfc8785.dumps(_interoperable(value)))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
