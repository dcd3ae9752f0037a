"""Docs and translations that cannot rot.

- every CLI command and every setting is documented;
- every user-facing English string (error messages, template text, nav labels) has Chinese;
- templates and static files load nothing from the internet.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from qianshu.cli import app as cli_app
from qianshu.core.i18n import catalog
from qianshu.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "qianshu"
DOCS = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))
# A domain error's message: one string literal or several adjacent ones (implicit concatenation).
ERROR_CALL = re.compile(
    r"\b(?:InvalidInput|NotFound|Conflict|PermissionDenied|NotAuthenticated|TooManyRequests|PayloadTooLarge|"
    r"UnsupportedMedia|QianshuError)\(\s*\(?\s*((?:\"(?:[^\"\\]|\\.)*\"\s*)+)")
PIECE = re.compile(r"\"((?:[^\"\\]|\\.)*)\"")
REASON = re.compile(r"\breason=\"((?:[^\"\\]|\\.)+)\"")
TEMPLATE_TEXT = re.compile(r"""_\(\s*(["'])(.+?)\1\s*[,)]""")
NAV_LABEL = re.compile(r"NavItem\(\s*\"[^\"]*\",\s*\"((?:[^\"\\]|\\.)+)\"")


def _commands(group: typer.Typer, prefix: str = "qianshu") -> list[str]:
    click_group = typer.main.get_command(group)
    names: list[str] = []

    def walk(cmd: object, path: str) -> None:
        sub = getattr(cmd, "commands", None)
        if sub:
            for name, child in sub.items():
                walk(child, f"{path} {name}")
        else:
            names.append(path)

    walk(click_group, prefix)
    return names


def test_every_cli_command_is_documented() -> None:
    missing = [c for c in _commands(cli_app) if f"`{c}" not in DOCS]
    assert not missing, f"undocumented commands: {missing}"


def test_every_setting_is_documented() -> None:
    missing = [name for name in Settings.model_fields if f"`{name}`" not in DOCS]
    assert not missing, f"undocumented settings: {missing}"


def _messages_in_python() -> set[str]:
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found.update("".join(PIECE.findall(m.group(1))) for m in ERROR_CALL.finditer(text))
        for pattern in (REASON, NAV_LABEL):
            found.update(m.group(1) for m in pattern.finditer(text))
    return {m for m in found if re.search(r"[A-Za-z]", m) and not m.startswith(("%", "{field}: {reason}"))}


def _messages_in_templates() -> set[str]:
    found: set[str] = set()
    for path in SRC.rglob("templates/**/*.html"):
        found.update(m.group(2) for m in TEMPLATE_TEXT.finditer(path.read_text(encoding="utf-8")))
    return found


@pytest.mark.parametrize("source", ["python", "templates"])
def test_every_message_has_chinese(source: str) -> None:
    messages = _messages_in_python() if source == "python" else _messages_in_templates()
    missing = sorted(m for m in messages if m not in catalog())
    assert not missing, f"{len(missing)} messages without Chinese (add them to the capability's zh.toml): {missing}"


def test_nothing_is_loaded_from_the_internet() -> None:
    offenders = []
    for path in [*SRC.rglob("*.html"), *SRC.rglob("*.js"), *SRC.rglob("*.css")]:
        if re.search(r"""(src|href)\s*=\s*["']https?://|@import\s+url\(\s*["']?https?://|fetch\(\s*["']https?://""",
                     path.read_text(encoding="utf-8")):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders


def test_no_message_is_translated_two_ways() -> None:
    """Capabilities' zh.toml files merge into one catalogue: a key may not mean two things."""
    import tomllib

    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for path in sorted(SRC.glob("*/zh.toml")):
        for key, value in tomllib.loads(path.read_text(encoding="utf-8")).items():
            if key in seen and seen[key][0] != value:
                clashes.append(f"{key!r}: {seen[key][1]} says {seen[key][0]!r}, {path.parent.name} says {value!r}")
            seen.setdefault(key, (value, path.parent.name))
    assert not clashes, clashes
