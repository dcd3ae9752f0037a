"""Free text from users: stored as given (escaped when shown), but without control characters."""

from __future__ import annotations

import unicodedata

from qianshu.core.errors import InvalidInput


def clean_text(value: str, field: str = "text") -> str:
    """Normalise to NFC and refuse control characters other than tab and newline.

    HTML and SQL in text are kept verbatim: queries are parameterised and templates escape.
    """
    text = unicodedata.normalize("NFC", value)
    for ch in text:
        if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r":
            raise InvalidInput("{field} contains characters that are not allowed.", field=field)
    return text
