"""Sharing's settings: the ``[sharing]`` table of ``qianshu.toml`` (docs/operations.md)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import Field

from qianshu.core.settings import Section


class SharingSettings(Section):
    name: ClassVar[str] = "sharing"

    # Working days an owner has to decide a conditional request (State Council practice: 10).
    decision_working_days: int = Field(default=10, ge=1, le=60)
    # For years the chinese-calendar package does not know yet: the State Council's announced
    # holidays (weekdays off) and make-up working days (weekend days on), as ISO dates.
    extra_holidays: list[date] = Field(default_factory=list)
    extra_workdays: list[date] = Field(default_factory=list)
    # Largest feed file an owner may upload.
    max_file_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
