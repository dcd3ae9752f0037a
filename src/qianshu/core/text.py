"""Free text from users: stored as given (escaped when shown), but without control characters."""

from __future__ import annotations

import unicodedata

from qianshu.core.errors import InvalidInput

BIDI_OVERRIDES = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_text(value: str, field: str = "text") -> str:
    """Normalise to NFC; refuse control characters (but tab, CR, LF) and bidi overrides.

    HTML and SQL in text are kept verbatim: queries are parameterised and templates escape.
    """
    text = unicodedata.normalize("NFC", value)
    for ch in text:
        # Control characters, and bidirectional overrides that make text read other than it is.
        if (unicodedata.category(ch) == "Cc" and ch not in "\t\n\r") or ch in BIDI_OVERRIDES:
            raise InvalidInput("{field} contains characters that are not allowed.", field=field)
    return text


def fit(value: object, columns: int) -> str:
    """A text cut to ``columns`` display columns, ending in "…" when cut; a Chinese (wide)
    character takes two columns, as it takes twice the width on screen.

    For labels drawn in SVG, which has no CSS ellipsis: Jinja's ``truncate`` counts characters
    (and lets five more through), so a long Chinese name ran under the bar beside it."""
    text = str(value or "")
    widths = [2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text]
    if sum(widths) <= columns:
        return text
    used = 1  # the ellipsis
    for i, width in enumerate(widths):
        if used + width > columns:
            return text[:i] + "…"
        used += width
    return text  # not reached: the text is wider than columns
