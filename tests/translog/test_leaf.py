"""The fast canonical JSON path emits exactly RFC 8785 (the reference implementation's bytes)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from qianshu.core.canonical import canonical_json
from qianshu.translog.leaf import canonical_bytes, encode_event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_fast_path_equals_rfc8785(value: Any) -> None:
    assert canonical_bytes(value) == canonical_json(value)


def test_tricky_values_fall_back_to_the_reference() -> None:
    for value in [{"\U0001f600": 1, "\ufb01": 2}, {"f": 1.5}, {"f": 1e21, "g": -0.0},
                  {"ctl": "\x00\x1f\x7f\u2028\"\\"}, {"nested": [{"b": 1, "a": [True, None]}]}]:
        assert canonical_bytes(value) == canonical_json(value)
    for unsafe in [{"big": 2**53}, {"big": 2**60 + 1}, {"nan": float("nan")}, {"lone": "\ud800"}]:
        assert _outcome(canonical_bytes, unsafe) == _outcome(canonical_json, unsafe)


def _outcome(encode: Any, value: Any) -> object:
    try:
        return encode(value)
    except Exception as exc:  # rfc8785's and core's own error types
        return type(exc).__name__


def test_event_is_type_at_payload() -> None:
    leaf = encode_event("registration.issued", "2026-11-22T06:00:00.000000Z", {"number": "QS-1", "n": 2})
    assert leaf == (b'{"at":"2026-11-22T06:00:00.000000Z","payload":{"n":2,"number":"QS-1"},'
                    b'"type":"registration.issued"}')


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text(), st.dictionaries(st.text(), json_values, max_size=5))
def test_event_fast_path_equals_rfc8785(event_type: str, at: str, payload: dict[str, Any]) -> None:
    """The outer object is assembled around the encoded payload: still the reference's bytes."""
    document = {"type": event_type, "at": at, "payload": payload}
    assert _outcome(lambda _: encode_event(event_type, at, payload), None) == _outcome(canonical_json, document)
