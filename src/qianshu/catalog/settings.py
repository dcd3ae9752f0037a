"""The catalogue's settings: the ``[catalog]`` table of ``qianshu.toml`` (docs/operations.md)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from qianshu.core.settings import Section


class CatalogSettings(Section):
    name: ClassVar[str] = "catalog"

    # How long a worker process may answer a repeated catalogue search from its cache without
    # asking the database whether the catalogue changed (see catalog/search_cache.py); 0: always ask.
    search_refresh_seconds: float = Field(default=1.0, ge=0, le=60)
