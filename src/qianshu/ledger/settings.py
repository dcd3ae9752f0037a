"""The ledger's settings: the ``[ledger]`` table of ``qianshu.toml`` (docs/operations.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import Field

from qianshu.core.settings import Section


class LedgerSettings(Section):
    name: ClassVar[str] = "ledger"

    # How long a money-moving API call's Idempotency-Key is remembered (Stripe: 24 hours); a
    # repeat after that executes again.
    idempotency_key_hours: float = Field(default=24.0, gt=0, le=24 * 365)
    # Most rows a statement page or export holds (newest first); filter by dates for older ones.
    statement_max_rows: int = Field(default=10_000, ge=100, le=1_000_000)

    @property
    def idempotency_ttl(self) -> timedelta:
        return timedelta(hours=self.idempotency_key_hours)
