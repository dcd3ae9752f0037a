"""Every user-facing English string of the registry (errors, reasons, templates) has Chinese."""

from __future__ import annotations

import re
from pathlib import Path

import qianshu.registry
from qianshu.core.i18n import catalog

ROOT = Path(qianshu.registry.__file__).parent
ERROR_CALL = re.compile(
    r'(?:InvalidInput|Conflict|NotFound|PermissionDenied|PayloadTooLarge|QianshuError|bad_file|Score|'
    r'Verification|OnlineVerification)\(\s*(?:[^"\n]*?,\s*)?\n?\s*("(?:[^"\\]|\\.)*"(?:\s*\n?\s*"(?:[^"\\]|\\.)*")*)')
TEMPLATE_CALL = re.compile(r'''_\(\s*(["'])((?:(?!\1).)*)\1''')


def _python_messages() -> set[str]:
    found = set()
    for path in ROOT.glob("*.py"):
        for match in ERROR_CALL.finditer(path.read_text(encoding="utf-8")):
            text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', match.group(1)))
            if " " in text or "{" in text:  # a sentence, not a code like "measured"
                found.add(text)
    return found


def _template_messages() -> set[str]:
    found = set()
    for path in (ROOT / "templates").rglob("*.html"):
        found |= {m.group(2) for m in TEMPLATE_CALL.finditer(path.read_text(encoding="utf-8"))}
    return found


def test_scan_finds_messages() -> None:
    assert "{file}: the file is empty." in _python_messages()
    assert "Submit for review" in _template_messages()


def test_every_message_has_chinese() -> None:
    zh = catalog()
    missing = sorted(m for m in _python_messages() | _template_messages() if m not in zh)
    assert missing == []
