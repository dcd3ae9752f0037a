"""Chinese identifiers: USCC (GB 32100-2015), resident ID (GB 11643), division codes, Luhn.

The check characters are recomputed here from the standards' definitions (weights 3^i mod 31;
ISO 7064 MOD 11-2 with weights 2^(17-i) mod 11), not from the module's tables, so a wrong
constant in the module cannot agree with itself.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import qianshu
from qianshu.core.errors import InvalidInput
from qianshu.core.identifiers import (
    USCC_ALPHABET,
    guizhou_divisions,
    guizhou_parents,
    is_valid_division_code,
    is_valid_resident_id,
    is_valid_uscc,
    luhn_ok,
    resident_id_check_char,
    uscc_check_char,
    validate_division_code,
    validate_resident_id,
    validate_uscc,
)
from qianshu.core.settings import Settings

DEMO_DATA = Path(qianshu.__file__).resolve().parent / "demo" / "data"

# --- independent reference implementations -------------------------------------------------

GB32100_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015 table: no I O Z S V


def reference_uscc_check(first17: str) -> str:
    total = sum(GB32100_ALPHABET.index(ch) * pow(3, i, 31) for i, ch in enumerate(first17))
    return GB32100_ALPHABET[(31 - total % 31) % 31]


def reference_id_check(first17: str) -> str:
    # ISO 7064 MOD 11-2: weights 2^(n-1) mod 11 counted from the check position.
    total = sum(int(ch) * pow(2, 17 - i, 11) for i, ch in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def reference_luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled: these sit at odd positions once the check digit is appended
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return str((10 - total % 10) % 10)


def reason_of(excinfo: pytest.ExceptionInfo[InvalidInput]) -> str:
    return str(excinfo.value.params["reason"])


# --- USCC -----------------------------------------------------------------------------------

KNOWN_VALID_USCC = [
    "91350100M000100Y43",  # commonly cited example
    "91110000600037341L",  # commonly cited example
]


def test_alphabet_is_the_gb32100_one() -> None:
    assert USCC_ALPHABET == GB32100_ALPHABET
    assert len(USCC_ALPHABET) == 31
    assert not set("IOZSV") & set(USCC_ALPHABET)


@pytest.mark.parametrize("code", KNOWN_VALID_USCC)
def test_known_valid_uscc_codes_validate(code: str) -> None:
    assert reference_uscc_check(code[:17]) == code[17]  # verified by the standard's algorithm
    assert uscc_check_char(code[:17]) == code[17]
    assert validate_uscc(code) == code
    assert is_valid_uscc(code)


def test_the_default_exchange_uscc_in_settings_is_valid() -> None:
    assert is_valid_uscc(Settings.model_fields["exchange_uscc"].default)


def test_uscc_is_trimmed_and_upper_cased() -> None:
    assert validate_uscc("  91110000600037341l\t") == "91110000600037341L"
    assert validate_uscc("91350100m000100y43") == "91350100M000100Y43"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("91110000600037341", "must be 18 characters"),
        ("91110000600037341LL", "must be 18 characters"),
        ("", "must be 18 characters"),
        ("91110000600037341M", "the check character is wrong"),
        ("91110000600037342L", "the check character is wrong"),
        ("9111000060003734IL", "contains characters outside the code alphabet"),
        ("9111000060003734OL", "contains characters outside the code alphabet"),
        ("911100006000373-1L", "contains characters outside the code alphabet"),
        ("9111 0000600037341L", "contains spaces"),
        ("９１１１００００６０００３７３４１Ｌ", "contains full-width characters; use half-width letters and digits"),
        ("91110000600037341Ｌ", "contains full-width characters; use half-width letters and digits"),
    ],
)
def test_invalid_uscc_is_refused_with_a_reason(value: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_uscc(value)
    assert reason_of(excinfo) == reason
    assert excinfo.value.field == "uscc"
    assert excinfo.value.code == "invalid_uscc"
    assert not is_valid_uscc(value)


def test_uscc_error_names_the_field_in_both_languages() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_uscc("91110000600037341M", field="organisation.uscc")
    err = excinfo.value
    assert err.code == "invalid_uscc"  # the last part of a dotted field
    assert err.render("en") == "organisation.uscc: the check character is wrong"
    assert err.render("zh") == "organisation.uscc：校验码错误"


@given(st.text(alphabet=GB32100_ALPHABET, min_size=17, max_size=17))
def test_appending_the_computed_check_char_always_validates(first17: str) -> None:
    check = uscc_check_char(first17)
    assert check == reference_uscc_check(first17)
    assert validate_uscc(first17 + check) == first17 + check


@given(
    st.text(alphabet=GB32100_ALPHABET, min_size=17, max_size=17),
    st.integers(min_value=0, max_value=17),
    st.sampled_from(GB32100_ALPHABET),
)
def test_changing_one_character_of_a_valid_uscc_is_detected(first17: str, position: int,
                                                           replacement: str) -> None:
    code = first17 + uscc_check_char(first17)
    changed = code[:position] + replacement + code[position + 1:]
    # 31 is prime and every weight is non-zero mod 31: any single substitution changes the sum.
    assert is_valid_uscc(changed) == (changed == code)


@given(st.text(alphabet=GB32100_ALPHABET, min_size=17, max_size=17), st.integers(0, 16))
def test_swapping_adjacent_different_characters_of_a_uscc_is_detected(first17: str, i: int) -> None:
    code = first17 + uscc_check_char(first17)
    swapped = code[:i] + code[i + 1] + code[i] + code[i + 2:]
    assert is_valid_uscc(swapped) == (swapped == code)


# --- Resident ID ----------------------------------------------------------------------------

GB11643_EXAMPLE = "11010519491231002X"  # the example in GB 11643-1999


def make_id(first17: str) -> str:
    return first17 + reference_id_check(first17)


def test_the_gb11643_example_validates() -> None:
    assert reference_id_check(GB11643_EXAMPLE[:17]) == "X"
    assert resident_id_check_char(GB11643_EXAMPLE[:17]) == "X"
    assert validate_resident_id(GB11643_EXAMPLE) == GB11643_EXAMPLE
    assert is_valid_resident_id(GB11643_EXAMPLE)


def test_a_lower_case_x_is_normalised() -> None:
    assert validate_resident_id(" 11010519491231002x ") == GB11643_EXAMPLE
    assert is_valid_resident_id("11010519491231002x")


@pytest.mark.parametrize("birth", ["20000229", "19000101", "20241231", "19960229"])
def test_real_birth_dates_are_accepted(birth: str) -> None:
    code = make_id("520102" + birth + "123")
    assert validate_resident_id(code) == code
    assert is_valid_resident_id(code)


@pytest.mark.parametrize("birth", ["19000229", "19490230", "19491301", "19490001", "19490100", "00000101"])
def test_a_birth_date_that_does_not_exist_is_refused_even_with_a_right_check_digit(birth: str) -> None:
    code = make_id("520102" + birth + "123")
    with pytest.raises(InvalidInput) as excinfo:
        validate_resident_id(code)
    assert reason_of(excinfo) == "the birth date is not a real date"
    assert excinfo.value.code == "invalid_resident_id"
    assert not is_valid_resident_id(code)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("11010519491231002", "must be 18 characters"),
        ("110105194912310021X", "must be 18 characters"),
        ("110105194912310029", "the check character is wrong"),
        ("1101051949123100XX", "contains characters outside the code alphabet"),
        ("11010519491231002Y", "contains characters outside the code alphabet"),
        ("1101051949123100 X", "contains spaces"),
        ("１１０１０５１９４９１２３１００２Ｘ", "contains full-width characters; use half-width letters and digits"),
    ],
)
def test_invalid_resident_ids_are_refused_with_a_reason(value: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_resident_id(value)
    assert reason_of(excinfo) == reason
    assert not is_valid_resident_id(value)


def test_non_ascii_digits_are_refused_by_the_validator() -> None:
    arabic_indic = "".join(chr(0x660 + int(d)) for d in GB11643_EXAMPLE[:17]) + "X"
    with pytest.raises(InvalidInput):
        validate_resident_id(arabic_indic)


@pytest.mark.parametrize(
    "value",
    [GB11643_EXAMPLE + "\n", "".join(chr(0x660 + int(d)) for d in GB11643_EXAMPLE[:17]) + "X"],
    ids=["trailing-newline", "arabic-indic-digits"],
)
def test_fast_path_agrees_with_the_validator_on_odd_input(value: str) -> None:
    assert not is_valid_resident_id(value)


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_fast_path_and_validator_agree(first17: str) -> None:
    code = first17 + resident_id_check_char(first17)
    assert resident_id_check_char(first17) == reference_id_check(first17)
    try:
        validate_resident_id(code)
    except InvalidInput:
        valid = False
    else:
        valid = True
    assert is_valid_resident_id(code) is valid


@given(
    st.dates().map(lambda d: d.strftime("%Y%m%d")).filter(lambda s: len(s) == 8),
    st.text(alphabet="0123456789", min_size=3, max_size=3),
    st.integers(min_value=0, max_value=17),
    st.sampled_from("0123456789X"),
)
def test_changing_one_character_of_a_valid_resident_id_is_detected(birth: str, serial: str, position: int,
                                                                   replacement: str) -> None:
    code = make_id("520102" + birth + serial)
    assert is_valid_resident_id(code)
    if position < 17 and replacement == "X":
        replacement = "0"
    changed = code[:position] + replacement + code[position + 1:]
    # 11 is prime and every weight is non-zero mod 11: any single substitution is caught.
    assert is_valid_resident_id(changed) == (changed == code)


# --- Division codes -------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["520000", "520100", "520102", "522301", "522701", "110105", "310115",
                                  "810000"])
def test_known_division_codes_are_accepted(code: str) -> None:
    assert validate_division_code(code) == code
    assert is_valid_division_code(code)


def test_division_code_is_trimmed() -> None:
    assert validate_division_code(" 520102 ") == "520102"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("529999", "is not a known division code"),  # Guizhou prefix, not in the shipped list
        ("520199", "is not a known division code"),
        ("990000", "is not a known division code"),  # no such province
        ("000000", "is not a known division code"),
        ("52010", "must be 6 digits"),
        ("5201020", "must be 6 digits"),
        ("52a102", "must be 6 digits"),
        ("５２０１０２", "contains full-width characters; use half-width letters and digits"),
        ("520 102", "contains spaces"),
    ],
)
def test_invalid_division_codes_are_refused(value: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_division_code(value)
    assert reason_of(excinfo) == reason
    assert excinfo.value.code == "invalid_division_code"
    assert not is_valid_division_code(value)


def test_guizhou_list_has_province_9_prefectures_and_88_counties() -> None:
    divisions = guizhou_divisions()
    assert divisions["520000"] == "贵州省"
    assert divisions["520100"] == "贵阳市"
    assert divisions["520102"] == "南明区"
    prefectures = [c for c, p in guizhou_parents().items() if p == "520000"]
    assert len(prefectures) == 9
    assert len(divisions) == 1 + 9 + 88
    assert all(code.startswith("52") and len(code) == 6 and code.isdigit() for code in divisions)


def test_every_county_belongs_to_a_prefecture_and_counts_match_the_census_table() -> None:
    parents = guizhou_parents()
    divisions = guizhou_divisions()
    with (DEMO_DATA / "guizhou_prefectures.csv").open(encoding="utf-8") as fh:
        expected = {row["code"]: int(row["county_level_units"]) for row in csv.DictReader(fh)}
    counties = {code: parent for code, parent in parents.items() if parent != "520000"}
    assert Counter(counties.values()) == expected
    for county, prefecture in counties.items():
        assert county in divisions
        assert parents[prefecture] == "520000"
        assert county[:4] == prefecture[:4]


# --- Luhn -----------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["4111111111111111", "5500000000000004", "6011111111111117",
                                    "378282246310005", "6212345678901232", "4000000000000002"])
def test_known_luhn_valid_card_numbers(number: str) -> None:
    assert reference_luhn_digit(number[:-1]) == number[-1]
    assert luhn_ok(number)


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111112",  # wrong check digit
        "4111111111111121",  # adjacent digits swapped
        "79927398713",  # valid Luhn, but 11 digits: no card number is that short
        "4" + "0" * 18 + "4",  # 20 digits: too long
        "",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
    ],
)
def test_luhn_refuses(number: str) -> None:
    assert not luhn_ok(number)


@given(st.text(alphabet="0123456789", min_size=11, max_size=18))
def test_appending_the_luhn_digit_validates_and_any_other_digit_does_not(body: str) -> None:
    check = reference_luhn_digit(body)
    assert luhn_ok(body + check)
    for other in "0123456789":
        if other != check:
            assert not luhn_ok(body + other)


@pytest.mark.parametrize(
    "number",
    ["²" * 16, "".join(chr(0x660 + int(d)) for d in "4111111111111111")],
    ids=["superscript", "arabic-indic"],
)
def test_luhn_refuses_non_ascii_digits(number: str) -> None:
    assert luhn_ok(number) is False
