"""The exchange's settings: the ``[exchange]`` table of ``qianshu.toml`` (docs/operations.md)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from qianshu.core.settings import Section


class ExchangeSettings(Section):
    name: ClassVar[str] = "exchange"

    # How long a quote stays open when the seller gives no expiry, and the longest they may give.
    quote_days: int = Field(default=14, ge=1, le=365)
    max_quote_days: int = Field(default=90, ge=1, le=365)
