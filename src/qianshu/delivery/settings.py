"""Delivery's settings: the ``[delivery]`` table of ``qianshu.toml`` (docs/operations.md)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from qianshu.core.settings import Section


class DeliverySettings(Section):
    name: ClassVar[str] = "delivery"

    # One row in this many carries a mark in each marked column (Agrawal and Kiernan's gamma).
    watermark_gamma: int = Field(default=10, ge=2, le=1000)
    # A decimal column without a tolerance of the seller's moves by this many units of its last digit.
    watermark_tolerance_units: int = Field(default=5, ge=1, le=100)
    # The chance of naming a recipient who did not leak the copy (over all candidates together).
    detection_false_positive_rate: float = Field(default=1e-6, gt=0, le=1e-6)
    # Largest suspect file the portal takes.
    suspect_max_bytes: int = Field(default=2 * 1024**3, gt=0)
