"""Bilingual text on gettext: English message ids, Babel catalogues per package.

The gettext convention (the English text is the key) keeps templates readable:
``{{ _("Sign in") }}``. Core, the web layer and each capability that declares ``translations``
hold ``locale/{zh,en}/LC_MESSAGES/messages.po``; they are read with Babel's ``read_po`` at first
use (once per process) and merged into one table per language. The English catalogue carries
what English needs beyond the msgid: plural forms and the display text of context-qualified
keys (enumerated values such as ``pgettext("registration status", "public_notice")``).

Messages use ``{name}`` placeholders, formatted after translation; ``%(name)s`` works too for
Jinja's ``{% trans %}`` blocks. A parameter that is itself a message id (a validation reason)
or a :class:`Label` (an enumerated value) is shown in the same language as the message.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LANG_COOKIE = "qs_lang"
# The CLDR locale each language is formatted in (dates, numbers, money).
LOCALES = {"zh": "zh_Hans_CN", "en": "en"}
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent

Key = tuple[str | None, str]  # (message context, message id)


@dataclass(frozen=True)
class Catalogue:
    """One language's merged messages: singular texts and plural forms by (context, id)."""

    singular: dict[Key, str]
    plural: dict[Key, tuple[str, ...]]
    nplurals: int

    def plural_index(self, n: int) -> int:
        # Our two languages: Chinese has one form, English two (n != 1), as the catalogues' headers say.
        return 0 if self.nplurals == 1 or n == 1 else 1


class Label(str):
    """An enumerated value as a message parameter: shown by its context's label in the language
    of the message (``Label("registration status", "public_notice")`` → 公示中 / In public notice).

    It is the bare value as a string, so logs, JSON and stored job errors keep the stable key."""

    context: str

    def __new__(cls, context: str, value: str) -> Label:
        made = super().__new__(cls, value)
        made.context = context
        return made

    def __reduce__(self) -> tuple[Any, ...]:
        return (Label, (self.context, str(self)))

    def render(self, lang: str) -> str:
        text = label(str(self), self.context, lang)
        # Inside an English sentence the label is not capitalised ("while it is in public notice"),
        # but an initialism keeps its capitals ("IP address").
        if lang == "en" and len(text) > 1 and text[0].isupper() and text[1].islower():
            return text[0].lower() + text[1:]
        return text


def locale_folders() -> list[Path]:
    # core's and the web layer's own texts, then each capability's as its manifest declares them;
    # the capability list sits above core, so it is imported by name at first use.
    capabilities = importlib.import_module("qianshu.capabilities")
    return [_PACKAGE_ROOT / "core" / "locale", _PACKAGE_ROOT / "web" / "locale", *capabilities.translation_folders()]


def po_file(folder: Path, lang: str) -> Path:
    return folder / lang / "LC_MESSAGES" / "messages.po"


@lru_cache(maxsize=len(LANGUAGES))
def catalogue(lang: str) -> Catalogue:
    # Babel's catalogue reader is imported at first use: a CLI command that translates nothing
    # does not pay for it.
    from babel.messages.pofile import read_po

    singular: dict[Key, str] = {}
    plural: dict[Key, tuple[str, ...]] = {}
    nplurals = 1
    for folder in locale_folders():
        path = po_file(folder, lang)
        if not path.exists():
            continue
        with path.open("rb") as handle:
            parsed = read_po(handle, locale=lang)
        nplurals = parsed.num_plurals
        for message in parsed:
            if not message.id or message.fuzzy:
                continue
            if isinstance(message.id, tuple | list):
                forms = tuple(str(s) for s in message.string or ())
                if all(forms):
                    plural[(message.context, str(message.id[0]))] = forms
            elif message.string:
                singular[(message.context, str(message.id))] = str(message.string)
    return Catalogue(singular, plural, nplurals)


def catalog() -> dict[str, str]:
    """The Chinese text of every message without context: English id → 中文."""
    return {msgid: text for (context, msgid), text in catalogue("zh").singular.items() if context is None}


def _known(message: str) -> bool:
    return (None, message) in catalogue("zh").singular


def _format(text: str, lang: str, params: dict[str, Any]) -> str:
    if not params:
        return text
    # Parameters are shown in the user's language where they are message ids or labels themselves.
    rendered = {k: (v.render(lang) if isinstance(v, Label)
                    else translate(v, lang) if isinstance(v, str) and _known(v) else v)
                for k, v in params.items()}
    try:
        if "%(" in text:
            return text % rendered
        return text.format(**rendered)
    except (KeyError, IndexError, ValueError, TypeError):
        return text


def _language(lang: str) -> str:
    return lang if lang in LANGUAGES else "en"  # an unknown language sees the English ids


def _lookup(lang: str, context: str | None, message: str) -> str | None:
    return catalogue(_language(lang)).singular.get((context, message))


def translate(message: str, lang: str, /, **params: Any) -> str:
    """``gettext``: the message in ``lang`` (the English id itself where no text is given)."""
    return _format(_lookup(lang, None, message) or message, lang, params)


gettext = translate


def pgettext(context: str, message: str, lang: str, /, **params: Any) -> str:
    """The message as meant in ``context``; without an entry there, as ``translate`` would show it."""
    text = _lookup(lang, context, message)
    return _format(text, lang, params) if text is not None else translate(message, lang, **params)


def npgettext(context: str | None, singular: str, plural: str, n: int, lang: str, /, **params: Any) -> str:
    table = catalogue(_language(lang))
    forms = table.plural.get((context, singular))
    text = forms[min(table.plural_index(n), len(forms) - 1)] if forms else singular if n == 1 else plural
    params.setdefault("n", n)
    params.setdefault("num", n)
    return _format(text, lang, params)


def ngettext(singular: str, plural: str, n: int, lang: str, /, **params: Any) -> str:
    """The singular or plural form for ``n`` (``n`` is also the ``{n}`` parameter)."""
    return npgettext(None, singular, plural, n, lang, **params)


def label(value: str | None, context: str, lang: str) -> str:
    """An enumerated value (a status, a right, a role ...) as its context names it in ``lang``."""
    if value is None or value == "":
        return ""
    return pgettext(context, str(value), lang)


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark for extraction, translate later"
    return message


def NP_(context: str, message: str) -> tuple[str, str]:  # noqa: N802 - as N_, with a message context
    return (context, message)


def NN_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802 - as N_, for a message with plural forms
    return (singular, plural)


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
