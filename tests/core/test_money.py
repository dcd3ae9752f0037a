"""Money: an integer number of fen, parsed exactly from yuan, never a float."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qianshu.core.errors import InvalidInput
from qianshu.core.money import MAX_FEN, Money

TWO_DECIMALS = "must be an amount in yuan with at most two decimals"


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("1234.5", 123450),
        ("1,234.50", 123450),
        ("¥12", 1200),
        ("￥12", 1200),
        ("¥ 12.30", 1230),
        ("  0.01 ", 1),
        ("0", 0),
        ("-0", 0),
        ("12.", 1200),
        ("4.50", 450),
        ("4.500", 450),  # exact: a trailing zero adds no precision
        ("-12.34", -1234),
        ("+7", 700),
        (12, 1200),
        (-3, -300),
        ("10000000000000", MAX_FEN),  # ten trillion yuan, the largest amount
        ("-10000000000000", -MAX_FEN),
        ("0.29", 29),  # float(0.29) * 100 is 28.999999999999996
        ("1.13", 113),  # and 1.13 * 100 is 112.99999999999999
    ],
)
def test_yuan_is_parsed_exactly(text: str | int, fen: int) -> None:
    money = Money.from_yuan(text)
    assert money.fen == fen
    assert type(money.fen) is int


def test_decimal_sums_are_exact() -> None:
    assert Money.from_yuan("0.1") + Money.from_yuan("0.2") == Money.from_yuan("0.3")
    assert 0.1 + 0.2 != 0.3  # the reason money is not a float


@pytest.mark.parametrize("text", ["1.234", "0.001", "1.005", "1e-3", "abc", "", "¥", "1.2.3", "1 000", "NaN",
                                  "nan", "Infinity", "-Infinity", "sNaN", "12元", "0x10"])
def test_malformed_amounts_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        Money.from_yuan(text)
    assert excinfo.value.params["reason"] == TWO_DECIMALS
    assert excinfo.value.field == "amount"


def test_the_field_is_named_in_the_error() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        Money.from_yuan("1.234", field="price")
    assert excinfo.value.field == "price"
    assert excinfo.value.render("en") == f"price: {TWO_DECIMALS}"
    assert excinfo.value.render("zh") == "price：必须是最多两位小数的人民币金额"


@pytest.mark.parametrize("text", ["10000000000000.01", "-10000000000000.01", "99999999999999",
                                  "9" * 41, "1" + "0" * 40])
def test_huge_amounts_are_refused_as_too_large(text: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        Money.from_yuan(text)
    assert excinfo.value.params["reason"] == "is too large"


@pytest.mark.parametrize("text", ["1e30", "9" * 30, "1E+100"])
def test_short_but_huge_amounts_are_refused_as_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput):
        Money.from_yuan(text)


@pytest.mark.parametrize("fen", [MAX_FEN + 1, -MAX_FEN - 1, 10**30])
def test_money_refuses_amounts_beyond_the_limit(fen: int) -> None:
    with pytest.raises(InvalidInput):
        Money(fen)


def test_the_limit_fits_signed_64_bit_and_exact_json_integers() -> None:
    assert MAX_FEN < 2**63 - 1
    assert MAX_FEN < 2**53  # I-JSON / RFC 8785: integers above this lose precision


@pytest.mark.parametrize("value", [1.0, 0.5, "100", None, True, False])
def test_money_holds_only_integers(value: object) -> None:
    with pytest.raises(TypeError):
        Money(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fen", "display", "yuan"),
    [
        (0, "¥0.00", "0.00"),
        (5, "¥0.05", "0.05"),
        (-5, "-¥0.05", "-0.05"),
        (100, "¥1.00", "1.00"),
        (123456, "¥1,234.56", "1234.56"),
        (-123456, "-¥1,234.56", "-1234.56"),
        (123456789012, "¥1,234,567,890.12", "1234567890.12"),
        (MAX_FEN, "¥10,000,000,000,000.00", "10000000000000.00"),
    ],
)
def test_formatting(fen: int, display: str, yuan: str) -> None:
    money = Money(fen)
    assert money.display() == display
    assert str(money) == display
    assert money.yuan_str() == yuan


def test_arithmetic_keeps_integers() -> None:
    a, b = Money(1050), Money(-25)
    assert a + b == Money(1025)
    assert a - b == Money(1075)
    assert a * 3 == Money(3150)
    assert type((a * 3).fen) is int


@pytest.mark.parametrize("times", [1.5, 2.0, "2"])
def test_money_is_multiplied_by_whole_numbers_only(times: object) -> None:
    with pytest.raises(TypeError):
        Money(100) * times  # type: ignore[operator]


def test_division_is_not_offered() -> None:
    with pytest.raises(TypeError):
        Money(100) / 3  # type: ignore[operator]


def test_arithmetic_past_the_limit_is_refused() -> None:
    with pytest.raises(InvalidInput):
        Money(MAX_FEN) + Money(1)
    with pytest.raises(InvalidInput):
        Money(MAX_FEN) * 2


def test_money_is_ordered_hashable_and_immutable() -> None:
    assert Money(1) < Money(2) < Money(100)
    assert sorted([Money(3), Money(-1), Money(2)]) == [Money(-1), Money(2), Money(3)]
    assert len({Money(5), Money(5), Money(6)}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        Money(1).fen = 2  # type: ignore[misc]


@given(st.integers(min_value=-MAX_FEN, max_value=MAX_FEN))
def test_yuan_string_round_trips(fen: int) -> None:
    assert Money.from_yuan(Money(fen).yuan_str()) == Money(fen)


@given(st.integers(min_value=0, max_value=MAX_FEN))
def test_display_of_a_non_negative_amount_round_trips(fen: int) -> None:
    assert Money.from_yuan(Money(fen).display()) == Money(fen)


def test_display_of_a_negative_amount_round_trips() -> None:
    assert Money.from_yuan(Money(-123456).display()) == Money(-123456)
