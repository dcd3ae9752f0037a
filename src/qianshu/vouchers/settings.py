"""Vouchers' settings: the ``[vouchers]`` table of ``qianshu.toml`` (docs/operations.md)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from qianshu.core.settings import Section


class VouchersSettings(Section):
    name: ClassVar[str] = "vouchers"

    # The largest metering evidence, invoice or proof file a provider may attach (bytes).
    max_evidence_bytes: int = Field(default=20 * 1024 * 1024, gt=0, le=1024 * 1024 * 1024)
