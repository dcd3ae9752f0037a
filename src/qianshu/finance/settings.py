"""Finance's settings: the ``[finance]`` table of ``qianshu.toml`` (docs/operations.md)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from qianshu.core.settings import Section


class FinanceSettings(Section):
    name: ClassVar[str] = "finance"

    # The loan-to-value limit (basis points: 5000 is 50 %) of a bank that has set none for the
    # asset's product category nor a default of its own.
    default_ltv_limit_bp: int = Field(default=5000, gt=0, le=10_000)
    # A valuation whose concluded value lies further than this from its market approach (basis
    # points of the market value: 5000 is 50 %) is flagged for the reader of the report.
    valuation_tolerance_bp: int = Field(default=5000, gt=0, le=100_000)
    # How many of the most recent comparable settled contracts the market approach takes.
    market_comparables: int = Field(default=10, gt=0, le=200)
