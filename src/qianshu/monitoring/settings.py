"""Monitoring's settings: the ``[monitoring]`` table of ``qianshu.toml`` (docs/operations.md)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from qianshu.core.settings import Section


class MonitoringSettings(Section):
    name: ClassVar[str] = "monitoring"

    # The largest feed file the portal and the API accept (a county's household registration of a
    # million residents is about 120 MB as CSV); the CLI reads files of any size.
    feed_max_bytes: int = Field(default=512 * 2**20, gt=0)
