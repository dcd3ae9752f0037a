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
