"""Docs and translations that cannot rot.

- every CLI command and every setting is documented;
- every user-facing English string has Chinese: see ``tests/core/test_translations.py``, which
  extracts the messages with Babel;
- templates and static files load nothing from the internet.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from qianshu.capabilities import settings_sections
from qianshu.cli import app as cli_app
from qianshu.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "qianshu"
DOCS = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))


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
    missing = [name for name in Settings.model_fields if name != "sections" and f"`{name}`" not in DOCS]
    assert not missing, f"undocumented settings: {missing}"


def test_every_capability_setting_is_documented_in_its_section() -> None:
    """Each capability's section has a heading ``### [name]`` in docs/operations.md, and each of
    its fields a row in the table that follows it."""
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    sections = settings_sections()
    assert sections, "no capability declares settings"
    for name, cls in sections.items():
        heading = f"### `[{name}]`"
        assert heading in operations, f"docs/operations.md has no heading {heading}"
        body = operations.split(heading, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
        missing = [field for field in cls.model_fields if f"`{field}`" not in body]
        assert not missing, f"[{name}] settings not documented under its heading: {missing}"


def test_nothing_is_loaded_from_the_internet() -> None:
    offenders = []
    for path in [*SRC.rglob("*.html"), *SRC.rglob("*.js"), *SRC.rglob("*.css")]:
        if re.search(r"""(src|href)\s*=\s*["']https?://|@import\s+url\(\s*["']?https?://|fetch\(\s*["']https?://""",
                     path.read_text(encoding="utf-8")):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders
