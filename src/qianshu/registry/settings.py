"""The registry's settings: the ``[registry]`` table of ``qianshu.toml`` (docs/operations.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import Field

from qianshu.core.settings import Section


class RegistrySettings(Section):
    name: ClassVar[str] = "registry"

    # Largest data file of a registration, counted while it streams in.
    upload_max_bytes: int = Field(default=10 * 1024**3, gt=0)
    # Supporting documents of a registration: purchase contract, objection evidence, report document.
    document_max_bytes: int = Field(default=50 * 1024**2, gt=0)
    public_notice_days: int = Field(default=10, ge=0, le=365)
    # A short public notice in minutes instead of days, for demonstrations and training (``qianshu
    # demo`` sets 2): a registration can go from upload to certificate in one sitting. Unset in
    # real use, where the notice lasts public_notice_days.
    public_notice_minutes: float | None = Field(default=None, ge=0, le=60 * 24 * 30)
    # A TrueType font with Chinese glyphs embedded in certificate PDFs; empty: search the system.
    certificate_font_path: str = ""

    @property
    def public_notice_duration(self) -> timedelta:
        if self.public_notice_minutes is not None:
            return timedelta(minutes=self.public_notice_minutes)
        return timedelta(days=self.public_notice_days)
