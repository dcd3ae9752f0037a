"""Free text: kept as given (HTML, SQL and all), NFC-normalised, control characters refused."""

from __future__ import annotations

import pytest

from qianshu.core.errors import InvalidInput
from qianshu.core.text import clean_text, fit


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


def test_fit_counts_a_chinese_character_as_two_columns() -> None:
    # a chart's label: a long Chinese provider name is cut where it would run under the bar
    assert fit("贵州省贵安新区华为云数据中心有限公司", 24) == "贵州省贵安新区华为云数…"
    assert fit("Guizhou Gui'an Huawei Cloud Data Centre", 24) == "Guizhou Gui'an Huawei C…"
    assert fit("黔东南州", 24) == "黔东南州"
    assert fit("exactly twenty-four col", 24) == "exactly twenty-four col"
    assert fit("", 24) == ""
    assert fit(None, 24) == ""
    assert fit("长名字", 2) == "…"
