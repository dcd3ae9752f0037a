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

    # --- signed download links and Delta Sharing (delivery/links.py, delivery/delta_sharing.py) ---
    # How long a signed download link works after it is issued.
    download_link_minutes: int = Field(default=24 * 60, ge=1, le=30 * 24 * 60)
    # How long a Delta Sharing bearer token works (never past the contract's end).
    sharing_token_days: int = Field(default=90, ge=1, le=3650)
    # How long a pre-signed file URL of a Delta Sharing query works.
    sharing_url_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # Rows per Parquet file of a shared table (a query with a limit hint gets only the files it needs).
    sharing_file_rows: int = Field(default=500_000, ge=1_000)
    # A shared table's cached marked files are removed this many days after they were written (or
    # once the contract ended), when no pre-signed URL to them still works (delivery/caches.py).
    sharing_cache_days: int = Field(default=30, ge=1, le=3650)

    # --- data API (issue 13) ---
    # Calls one API key may make in any 60 seconds (a sliding window), unless the seller set the contract's.
    api_rate_per_minute: int = Field(default=120, ge=1, le=100_000)
    # The quota of a contract: calls and rows per period (``day`` or ``month``, in UTC), unless the
    # seller set the contract's.
    api_quota_period: str = Field(default="day", pattern="^(day|month)$")
    api_calls_per_period: int = Field(default=10_000, ge=1)
    api_rows_per_period: int = Field(default=1_000_000, ge=1)
    # The most a seller may set for a contract (the operator's limits; delivery/limits.py).
    api_max_rate_per_minute: int = Field(default=6_000, ge=1, le=100_000)
    api_max_calls_per_period: int = Field(default=10_000_000, ge=1)
    api_max_rows_per_period: int = Field(default=1_000_000_000, ge=1)
    # Rows of one page: the default, and the most a caller may ask for.
    api_page_rows: int = Field(default=100, ge=1, le=10_000)
    api_max_page_rows: int = Field(default=1_000, ge=1, le=10_000)
    # Usage is batched per key per interval and reported to the exchange's billing once the
    # interval has been closed this long (so that a call that finished late still counts in it).
    api_meter_seconds: int = Field(default=3600, ge=60, le=86_400)
    api_meter_grace_seconds: int = Field(default=120, ge=0, le=3600)

    # --- sandbox (issue 13) ---
    # A sandbox query is cut off after this many seconds.
    sandbox_query_seconds: float = Field(default=30.0, gt=0, le=600)
    # The privacy budget (epsilon) of a contract when the seller did not set one.
    sandbox_default_budget: float = Field(default=1.0, gt=0, le=100)
