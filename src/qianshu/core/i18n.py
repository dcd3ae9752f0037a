"""Bilingual text: English message ids, Chinese from each capability's ``zh.toml``.

The gettext convention (the English text is the key) keeps templates readable:
``{{ _("Sign in") }}``. Each capability folder holds a ``zh.toml`` of ``"English" = "中文"``
pairs; they are read from the package folder, so core imports no capability. A test fails
when a string used in code or templates has no Chinese.
"""

from __future__ import annotations

import importlib
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LANG_COOKIE = "qs_lang"
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def catalog() -> dict[str, str]:
    # core's and the web layer's own texts, then each capability's as its manifest declares them;
    # the capability list sits above core, so it is imported by name at first use.
    capabilities = importlib.import_module("qianshu.capabilities")
    files = [_PACKAGE_ROOT / "core" / "zh.toml", _PACKAGE_ROOT / "web" / "zh.toml", *capabilities.translation_files()]
    merged: dict[str, str] = {}
    for path in files:
        merged.update(tomllib.loads(path.read_text(encoding="utf-8")))
    return merged


def translate(message: str, lang: str, **params: Any) -> str:
    text = catalog().get(message, message) if lang == "zh" else message
    if params:
        # Parameters are shown in the user's language where they are message ids themselves.
        rendered = {k: (translate(v, lang) if isinstance(v, str) and v in catalog() else v)
                    for k, v in params.items()}
        try:
            return text.format(**rendered)
        except (KeyError, IndexError, ValueError):
            return text
    return text


def negotiate(accept_language: str | None, cookie: str | None = None) -> str:
    """The language cookie wins; else the first supported tag of Accept-Language; else Chinese."""
    if cookie in LANGUAGES:
        return cookie
    if accept_language:
        weighted: list[tuple[float, int, str]] = []
        for position, part in enumerate(accept_language.split(",")[:20]):
            tag, *params = [p.strip() for p in part.split(";")]
            weight = 1.0
            for param in params:
                if param.lower().startswith("q="):
                    try:
                        weight = float(param[2:])
                    except ValueError:
                        weight = 0.0
                    if weight != weight:  # NaN
                        weight = 0.0
            if weight > 0:  # q=0 means "not acceptable" (RFC 9110 section 12.4.2)
                weighted.append((weight, position, tag.lower()[:2]))
        for _weight, _position, tag in sorted(weighted, key=lambda item: (-item[0], item[1])):
            if tag in LANGUAGES:
                return tag
    return DEFAULT_LANGUAGE
