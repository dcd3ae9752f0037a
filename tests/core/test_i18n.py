"""Language negotiation, translation, and a Chinese entry for every core error message."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

import qianshu.core
from qianshu.core import errors
from qianshu.core.i18n import DEFAULT_LANGUAGE, catalog, negotiate, translate

CORE = Path(qianshu.core.__file__).resolve().parent
ERROR_CLASSES = {name for name, obj in vars(errors).items()
                 if isinstance(obj, type) and issubclass(obj, errors.QianshuError)}


@pytest.mark.parametrize(
    ("accept", "cookie", "expected"),
    [
        ("en-US,en;q=0.9", "zh", "zh"),  # the cookie wins
        ("zh-CN,zh;q=0.9", "en", "en"),
        ("en-US,en;q=0.9", "fr", "en"),  # an unsupported cookie is ignored
        ("en-US,en;q=0.9,zh;q=0.8", None, "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", None, "zh"),
        ("zh-TW", None, "zh"),
        ("EN-GB", None, "en"),
        ("zh;q=0.5,en;q=0.9", None, "en"),  # q-values, not order, decide
        ("fr-FR,fr;q=0.9,en;q=0.5,zh;q=0.4", None, "en"),  # the best supported one
        ("de,ja;q=0.8", None, "zh"),  # nothing supported → Chinese
        ("*", None, "zh"),
        ("", None, "zh"),
        (None, None, "zh"),
        ("en;q=abc,zh;q=0.1", None, "zh"),  # a malformed q counts as 0
    ],
)
def test_negotiate(accept: str | None, cookie: str | None, expected: str) -> None:
    assert negotiate(accept, cookie) == expected


def test_default_language_is_chinese() -> None:
    assert DEFAULT_LANGUAGE == "zh"


def test_negotiate_survives_a_hostile_header() -> None:
    assert negotiate(",".join(["xx;q=1"] * 10_000) + ",en") == "zh"  # only the first 20 tags are read
    assert negotiate(";;;,,,;q=;q=;q") == "zh"


@pytest.mark.parametrize(("accept", "expected"), [("zh; q=0.5, en; q=0.9", "en"), ("en;q=0", "zh")],
                         ids=["white-space-before-q", "q-zero"])
def test_negotiate_follows_rfc9110_weights(accept: str, expected: str) -> None:
    assert negotiate(accept) == expected


def test_translate_to_chinese_and_english() -> None:
    assert translate("Not found.", "zh") == "未找到。"
    assert translate("Not found.", "en") == "Not found."
    assert translate("A message nobody translated", "zh") == "A message nobody translated"


def test_translate_with_params() -> None:
    assert translate("{field} is required.", "zh", field="名称") == "名称 为必填项。"
    assert translate("{field} is required.", "en", field="name") == "name is required."
    assert translate("{field} is too long (at most {max} characters).", "zh", field="title",
                     max=80) == "title 过长（最多 80 个字符）。"


def test_params_that_are_message_ids_are_translated_too() -> None:
    assert translate("{field}: {reason}", "zh", field="org.code",
                     reason="the check character is wrong") == "org.code：校验码错误"
    assert translate("{field}: {reason}", "en", field="org.code",
                     reason="the check character is wrong") == "org.code: the check character is wrong"
    # field names are message ids too where a catalogue names them
    assert translate("{field}: {reason}", "zh", field="uscc",
                     reason="contains spaces") == "统一社会信用代码：含有空格"


def test_a_missing_or_odd_param_returns_the_text_unformatted() -> None:
    assert translate("{field} is required.", "zh", other="x") == "{field} 为必填项。"
    assert translate("Not found.", "en", field="x") == "Not found."


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_translation_keeps_the_placeholders_of_its_english() -> None:
    broken = {en: zh for en, zh in catalog().items() if placeholders(en) != placeholders(zh)}
    assert broken == {}


def test_no_translation_is_empty() -> None:
    assert [en for en, zh in catalog().items() if not zh.strip()] == []


def _core_messages() -> set[str]:
    """English texts given to domain errors in core: templates, reasons, pydantic messages."""
    found: set[str] = set()
    for path in sorted(CORE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if name in ERROR_CLASSES and node.args and isinstance(node.args[0], ast.Constant):
                    found.add(node.args[0].value)
                if name == "N_" and node.args and isinstance(node.args[0], ast.Constant):
                    found.add(node.args[0].value)
                if name == "_reject" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                    found.add(node.args[1].value)
                if name in ERROR_CLASSES | {"_reject"}:
                    found.update(kw.value.value for kw in node.keywords
                                 if kw.arg == "reason" and isinstance(kw.value, ast.Constant))
            if (isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_MESSAGES" for t in node.targets)
                    and isinstance(node.value, ast.Dict)):
                found.update(v.value for v in node.value.values if isinstance(v, ast.Constant))
    return {m for m in found if isinstance(m, str)}


def test_the_scan_finds_the_core_messages() -> None:
    messages = _core_messages()
    assert {"{field}: {reason}", "the check character is wrong", "is too large",
            "{field} contains characters that are not allowed.", "{field} is required."} <= messages
    assert len(messages) > 20


def test_every_core_error_message_has_a_chinese_entry_in_core_catalogue() -> None:
    with (CORE / "locale" / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        core_zh = {m.id: m.string for m in read_po(handle) if m.id and m.string and not m.context}
    missing = sorted(m for m in _core_messages() if m not in core_zh)
    assert missing == []
    assert all(core_zh[m] != m for m in _core_messages())
