"""RFC 8785 (JCS): the test vectors of the RFC itself, byte for byte."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qianshu.core.canonical import canonical_json, sha256_hex

# RFC 8785 section 3.2.2, input as JSON text (parsed, as a receiver would) and the exact output.
RFC_3_2_2_INPUT = r"""{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
RFC_3_2_2_OUTPUT = (
    r"""{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"""
    r""""string":"€$\u000f\nA'B\"\\\\\"/"}"""
)

# RFC 8785 section 3.2.3: properties are sorted by their UTF-16 code units.
RFC_3_2_3_INPUT = r"""{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"""
RFC_3_2_3_ORDER = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]

# RFC 8785 appendix B: IEEE 754 bit patterns and their canonical text.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),  # minus zero
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


def from_bits(hex_bits: str) -> float:
    return float(struct.unpack(">d", bytes.fromhex(hex_bits))[0])


def test_rfc8785_section_3_2_2_example() -> None:
    assert canonical_json(json.loads(RFC_3_2_2_INPUT)) == RFC_3_2_2_OUTPUT.encode("utf-8")


def test_rfc8785_section_3_2_3_sorting_by_utf16_code_units() -> None:
    out = canonical_json(json.loads(RFC_3_2_3_INPUT)).decode("utf-8")
    parsed = json.loads(out)
    assert list(parsed) == RFC_3_2_3_ORDER
    # U+1F600 (surrogates D83D DE00) sorts before U+FB33, unlike in code-point order.
    assert sorted(parsed) != RFC_3_2_3_ORDER
    assert out.startswith('{"\\r":"Carriage Return","1":"One","\u0080":"Control"')


@pytest.mark.parametrize(("bits", "text"), APPENDIX_B)
def test_rfc8785_appendix_b_numbers(bits: str, text: str) -> None:
    assert canonical_json(from_bits(bits)) == text.encode("ascii")


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinity_are_refused(bits: str) -> None:
    with pytest.raises(Exception):  # noqa: B017, PT011 - any refusal will do; silently emitting is the bug
        canonical_json(from_bits(bits))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"b": 1, "a": 2, "aa": 3, "A": 4}, '{"A":4,"a":2,"aa":3,"b":1}'),
        ({"z": {"y": 1, "x": [3, {"d": 0, "c": 0}]}}, '{"z":{"x":[3,{"c":0,"d":0}],"y":1}}'),
        (1e30, "1e+30"),
        (4.50, "4.5"),
        (-0.0, "0"),
        (1.0, "1"),
        (0.002, "0.002"),
        (1e-7, "1e-7"),
        (100, "100"),
        ("黔数", '"黔数"'),  # non-ASCII stays as UTF-8
        ("\u2028\x7f", '"\u2028\x7f"'),
        ("\x00\x1f\b\t", '"\\u0000\\u001f\\b\\t"'),
        ("</script>", '"</script>"'),  # no HTML-style escaping of '/'
        ([], "[]"),
        ({}, "{}"),
        (None, "null"),
    ],
)
def test_canonical_forms(value: object, text: str) -> None:
    assert canonical_json(value) == text.encode("utf-8")


def test_key_order_and_whitespace_of_the_input_do_not_matter() -> None:
    a = json.loads('{ "b" : [1, 2.0], "a" : {"y": "黔", "x": null} }')
    b = {"a": {"x": None, "y": "黔"}, "b": [1, 2]}
    assert canonical_json(a) == canonical_json(b)
    assert sha256_hex(canonical_json(a)) == sha256_hex(canonical_json(b))


def test_integers_beyond_exact_json_range_are_refused() -> None:
    canonical_json(2**53 - 1)
    with pytest.raises(Exception):  # noqa: B017, PT011 - rfc8785's IntegerDomainError
        canonical_json(2**53 + 1)


def test_sha256_hex_known_vectors() -> None:
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    # Integral floats from 2^53 up print without an exponent and parse back as ints that
    # rfc8785 refuses (see test_signing's xfail); the property holds below that.
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: abs(f) < 2**53) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_canonical_output_is_json_that_parses_back_and_is_a_fixed_point(value: object) -> None:
    out = canonical_json(value)
    parsed = json.loads(out)
    assert canonical_json(parsed) == out

    def same(a: object, b: object) -> bool:
        if isinstance(a, float) or isinstance(b, float):
            return float(a) == float(b)  # type: ignore[arg-type]
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        return a == b

    assert same(value, parsed)
