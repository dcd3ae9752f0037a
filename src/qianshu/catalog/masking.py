"""Masking of sample values in columns where the registration scan found personal information.

The masking itself is the registry's (``registry.service.mask_value``), so a value looks the
same on the registration page (the scan's masked examples) and on the product page (the
sample and the distribution charts). An unknown kind gets a strict generic mask. Masking is
applied to every sample shown by the catalogue: raw personal data never leaves the registry
through a product page or the API.
"""

from __future__ import annotations

from typing import Any

from qianshu.registry import service as registry_service


def mask_value(value: Any, kind: str) -> Any:
    return registry_service.mask_value(value, kind)


def mask_rows(columns: list[str], rows: list[list[Any]], pii: dict[str, str]) -> list[list[Any]]:
    """A copy of ``rows`` with every value of a personal-information column masked."""
    return registry_service.mask_rows(columns, rows, pii)
