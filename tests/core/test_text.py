"""Free text: kept as given (HTML, SQL and all), NFC-normalised, control characters refused."""

from __future__ import annotations

import pytest

from qianshu.core.errors import InvalidInput
from qianshu.core.text import clean_text


@pytest.mark.parametrize(
    "value",
    [
        "<script>alert('x')</script>",
        "<b>粗体</b> &amp; &lt;",
        "Robert'); DROP TABLE users;--",
        "{{ 7*7 }} {% raw %}",
        "第一行\n第二行\r\n\t缩进",
        "黔数 😀 \u2028 \u00a0",
        "",
    ],
)
def test_text_is_kept_verbatim(value: str) -> None:
    assert clean_text(value) == value


def test_text_is_normalised_to_nfc() -> None:
    assert clean_text("e\u0301") == "\u00e9"
    assert clean_text("\u212b") == "\u00c5"  # ANGSTROM SIGN → A WITH RING


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\x9f"])
def test_control_characters_are_refused(char: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        clean_text(f"abc{char}def", field="description")
    err = excinfo.value
    assert err.field == "description"
    assert err.code == "invalid_input"
    assert err.render("en") == "description contains characters that are not allowed."
    assert err.render("zh") == "description 含有不允许的字符。"


def test_default_field_name() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        clean_text("\x00")
    assert excinfo.value.field == "text"
