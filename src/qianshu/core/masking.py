"""Masking of sample values in columns where the registration scan found personal information.

The mask depends on the kind the scan reported; an unknown kind gets the strictest generic
mask. Masking is applied to every sample shown by the catalogue and by the registry's review
page: raw personal data never leaves the registry through a page or the API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_DIGITS = re.compile(r"\d")


def _keep(value: str, head: int, tail: int, fill: str = "*") -> str:
    if len(value) <= head + tail:
        return fill * len(value) if len(value) > 1 else fill
    return value[:head] + fill * (len(value) - head - tail) + value[len(value) - tail :]


def mask_resident_id(value: str) -> str:
    """5201**********1234: region prefix and last four kept, the birth date hidden."""
    return _keep(value, 4, 4)


def mask_mobile(value: str) -> str:
    """138****5678."""
    digits = "".join(_DIGITS.findall(value))
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return _keep(digits, 3, 4) if len(digits) >= 7 else "*" * len(value)


def mask_landline(value: str) -> str:
    return _keep(value, 4, 2)


def mask_bank_card(value: str) -> str:
    """6222 **** **** 1234 style: first four and last four."""
    digits = "".join(_DIGITS.findall(value))
    return _keep(digits, 4, 4) if len(digits) >= 8 else "*" * len(value)


def mask_email(value: str) -> str:
    local, at, domain = value.partition("@")
    if not at:
        return _keep(value, 1, 0)
    return (local[:1] + "***" if local else "***") + "@" + domain


def mask_name(value: str) -> str:
    """张* / 欧阳** / J*** S****: the family name (first character) kept."""
    value = value.strip()
    if not value:
        return value
    if value.isascii():
        return " ".join(part[:1] + "*" * (len(part) - 1) for part in value.split())
    return value[0] + "*" * (len(value) - 1)


def mask_address(value: str) -> str:
    """Keep the first six characters (province/city/district), hide the rest."""
    return _keep(value, 6, 0)


def mask_generic(value: str) -> str:
    return _keep(value, 1, 1) if len(value) > 2 else "*" * len(value)


MASKS: dict[str, Callable[[str], str]] = {
    "resident_id": mask_resident_id,
    "mobile": mask_mobile,
    "landline": mask_landline,
    "bank_card": mask_bank_card,
    "email": mask_email,
    "name": mask_name,
    "person_name": mask_name,
    "address": mask_address,
    "passport": lambda v: _keep(v, 1, 2),
    "plate": lambda v: _keep(v, 2, 1),
    "license_plate": lambda v: _keep(v, 2, 1),
    "ip": lambda v: _keep(v, 3, 0),
}


def mask_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    return MASKS.get(kind, mask_generic)(str(value))


def mask_rows(columns: list[str], rows: list[list[Any]], pii: dict[str, str]) -> list[list[Any]]:
    """A copy of ``rows`` with every value of a personal-information column masked."""
    kinds = [pii.get(c) for c in columns]
    return [[mask_value(v, k) if k else v for v, k in zip(row, kinds, strict=False)] for row in rows]
