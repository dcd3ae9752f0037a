"""Pydantic's validation errors, turned into bilingual domain errors naming the field (the API's
handler; portal forms collect them all with ``core.forms.validate_form``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.core.i18n import N_

# N_ marks them for extraction; they are translated when an error is rendered.
_MESSAGES = {
    "missing": N_("{field} is required."),
    "string_too_long": N_("{field} is too long (at most {max} characters)."),
    "too_long": N_("{field} is too long (at most {max} characters)."),
    "extra_forbidden": N_("Unknown field: {field}."),
    "string_too_short": N_("{field} is too short (at least {min} characters)."),
    "string_pattern_mismatch": N_("{field} is not in the expected format."),
    "literal_error": N_("{field} must be one of: {expected}."),
    "int_parsing": N_("{field} must be a whole number."),
    "less_than_equal": N_("{field} must be at most {max}."),
    "greater_than_equal": N_("{field} must be at least {min}."),
    "json_invalid": N_("The request body is not valid JSON."),
}


def _field_name(loc: Sequence[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "form", "header", "cookie"):
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "body"


def error_from_details(details: Sequence[Any]) -> QianshuError:
    """The first problem, as an ``InvalidInput`` (the others are listed by the API handler)."""
    first: dict[str, Any] = dict(details[0]) if details else {"type": "value_error", "loc": (), "ctx": {}}
    err_type = first.get("type", "")
    ctx = first.get("ctx") or {}
    field = _field_name(first.get("loc", ()))
    original = ctx.get("error")
    if isinstance(original, QianshuError):
        return original
    template = _MESSAGES.get(err_type, "{field} is invalid.")
    params: dict[str, Any] = {}
    params["max"] = ctx.get("max_length", ctx.get("le", ""))
    params["min"] = ctx.get("min_length", ctx.get("ge", ""))
    params["expected"] = ctx.get("expected", "")
    return InvalidInput(template, field=field, code="invalid_input", **params)


def all_errors(details: Sequence[Any]) -> list[QianshuError]:
    return [error_from_details([d]) for d in details]
