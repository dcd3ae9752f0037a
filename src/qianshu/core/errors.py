"""Domain errors, mapped once to HTTP (RFC 9457 problem+json) and once to CLI messages.

    QianshuError                     500 internal (base; never raised directly)
    ├── InvalidInput                 422 invalid_input   (names the field)
    ├── NotAuthenticated             401 not_authenticated
    ├── PermissionDenied             403 permission_denied
    ├── NotFound                     404 not_found
    ├── RequestTimeout               408 request_timeout
    ├── Conflict                     409 conflict
    ├── PayloadTooLarge              413 payload_too_large
    ├── UnsupportedMedia             415 unsupported_media
    ├── TooManyRequests              429 too_many_requests
    └── QueryTimedOut                503 query_timeout   (an analytical query passed its time limit)

Each error carries a stable ``code`` (machine-readable, never translated) and an English
message template with ``{name}`` parameters; :mod:`qianshu.core.i18n` renders it in either
language. Services raise these, never HTTP exceptions.
"""

from __future__ import annotations

from typing import Any, ClassVar

from qianshu.core.i18n import translate


class QianshuError(Exception):
    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal"

    def __init__(
        self, message: str, *, code: str | None = None, field: str | None = None, **params: Any
    ) -> None:
        if field is not None:
            params.setdefault("field", field)
        try:
            text = message.format(**params) if params else message
        except (KeyError, IndexError, ValueError):
            text = message
        super().__init__(text)
        self.message = message
        self.code = code or self.default_code
        self.field = field
        self.params = params

    def render(self, lang: str) -> str:
        return translate(self.message, lang, **self.params)

    def bilingual(self) -> str:
        """For logs and the CLI: both languages on one line."""
        zh, en = self.render("zh"), self.render("en")
        return en if zh == en else f"{zh} / {en}"


class InvalidInput(QianshuError, ValueError):
    """Also a ``ValueError``: raised in a Pydantic validator it is collected with the other fields'
    errors (Pydantic lets any other exception out at once, and the form would show one error)."""

    status = 422
    default_code = "invalid_input"


class NotAuthenticated(QianshuError):
    status = 401
    default_code = "not_authenticated"


class PermissionDenied(QianshuError):
    status = 403
    default_code = "permission_denied"


class NotFound(QianshuError):
    status = 404
    default_code = "not_found"


class RequestTimeout(QianshuError):
    status = 408
    default_code = "request_timeout"


class Conflict(QianshuError):
    status = 409
    default_code = "conflict"


class PayloadTooLarge(QianshuError):
    status = 413
    default_code = "payload_too_large"


class UnsupportedMedia(QianshuError):
    status = 415
    default_code = "unsupported_media"


class TooManyRequests(QianshuError):
    status = 429
    default_code = "too_many_requests"


class QueryTimedOut(QianshuError):
    status = 503
    default_code = "query_timeout"
