"""Tables of delivery.

``delivery_watermarked_copies``  every watermarked copy made of a product: for whom (the
recipient key, a contract id), in which format, how many rows. A leak is looked for among the
recipients of a product's copies (and its contracts, once the exchange delivers through here).
``delivery_watermark_policies``  what the seller allows the watermark of a product to change:
the identifying columns and each numeric column's tolerance (absent: the installation's defaults).
Fixed once the product's first copy exists, since the copies are traced with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.core.db import Base
from qianshu.core.timeutil import utcnow


class WatermarkedCopy(Base):
    __tablename__ = "delivery_watermarked_copies"
    __table_args__ = (Index("ix_delivery_copies_listing", "listing_id", "recipient_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    listing_id: Mapped[int] = mapped_column()
    org_id: Mapped[int]  # the seller
    recipient_key: Mapped[str] = mapped_column(String(120))  # the contract id the watermark is keyed to
    recipient_label: Mapped[str] = mapped_column(String(200), default="")
    file_format: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WatermarkPolicyRow(Base):
    __tablename__ = "delivery_watermark_policies"

    listing_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    identity: Mapped[list[Any]] = mapped_column(JSON, default=list)  # column names
    tolerances: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # column name → tolerance
    # Keyed decoy rows per copy the seller allows (0: none; delivery/decoys.py).
    decoys: Mapped[int] = mapped_column(default=0, server_default="0")
    updated_by: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- signed download links and Delta Sharing tokens (delivery/links.py, delivery/delta_sharing.py) ---


class DownloadLink(Base):
    """A signed, expiring link to a watermarked copy of a contract's product, issued to its buyer.
    The link's signature covers its id, contract, format and expiry; the row says when it was
    fetched (and the contract is asked again at every fetch)."""

    __tablename__ = "delivery_download_links"
    __table_args__ = (Index("ix_delivery_links_contract", "contract_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column()
    file_format: Mapped[str] = mapped_column(String(16))  # csv | csv-excel | csv-gb18030 | xlsx | parquet
    expires_at: Mapped[datetime]
    issued_by: Mapped[int | None]
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    fetches: Mapped[int] = mapped_column(default=0)
    last_fetched_at: Mapped[datetime | None]


class SharingToken(Base):
    """A Delta Sharing bearer token of one contract: only its SHA-256 is kept (the token is shown
    once). It dies with the contract, at its expiry, or when the buyer rotates or revokes it."""

    __tablename__ = "delivery_sharing_tokens"
    __table_args__ = (Index("ix_delivery_sharing_contract", "contract_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column()
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))  # the token's first characters, to tell tokens apart
    created_by: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

# --- data API and sandbox (issue 13) ------------------------------------------------------------
# ``delivery_api_keys``        one live API key per contract on a metered plan: only its SHA-256
#                              is kept (the key is shown once); rotating revokes the old one.
# ``delivery_api_counters``    calls and rows per window: of a key per ``minute`` (the rate
#                              limit), of a contract per ``day``/``month`` (the quota), raised by
#                              conditional UPDATEs so that
#                              concurrent requests cannot pass the limits.
# ``delivery_api_meter``       billable calls and rows of a key per interval; the metering job
#                              reports each closed interval once to the exchange, with a stable id.
# ``delivery_sandbox_policies`` the seller's sandbox settings of a product: k, the epsilon per query
#                              (differential privacy on), the budget of each contract, the bounds.
# ``delivery_privacy_budgets`` the privacy budget of a contract: total and spent (both parties see it).
# ``delivery_sandbox_queries`` every sandbox query of a contract and its outcome, never a value.


class ApiKey(Base):
    __tablename__ = "delivery_api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # the key's public part, to find it
    key_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the whole key
    created_by: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class ApiCounter(Base):
    __tablename__ = "delivery_api_counters"

    scope: Mapped[str] = mapped_column(String(40), primary_key=True)  # key:<id> (rate) | contract:<id> (quota)
    window: Mapped[str] = mapped_column(String(8), primary_key=True)  # minute | day | month
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)


class ApiMeter(Base):
    __tablename__ = "delivery_api_meter"
    __table_args__ = (UniqueConstraint("key_id", "interval_start", name="uq_delivery_api_meter_interval"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[int]
    contract_id: Mapped[int] = mapped_column(index=True)
    interval_start: Mapped[datetime]
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    report_id: Mapped[str] = mapped_column(String(100), default="")  # set when reported
    units: Mapped[int] = mapped_column(BigInteger, default=0)  # what was billed
    reported_at: Mapped[datetime | None] = mapped_column(index=True)


class SandboxPolicyRow(Base):
    __tablename__ = "delivery_sandbox_policies"

    listing_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    k: Mapped[int] = mapped_column(default=10)
    epsilon: Mapped[float | None] = mapped_column(Float)  # per query; None: no noise
    budget: Mapped[float] = mapped_column(Float, default=1.0)  # each contract's total epsilon
    bounds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # column → [low, high]
    identifying: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_by: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PrivacyBudgetRow(Base):
    __tablename__ = "delivery_privacy_budgets"

    contract_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    total: Mapped[float] = mapped_column(Float)
    spent: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SandboxQuery(Base):
    __tablename__ = "delivery_sandbox_queries"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(index=True)
    listing_id: Mapped[int]
    user_id: Mapped[int | None]
    sql: Mapped[str] = mapped_column(Text)
    sql_sha256: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(12))  # answered | suppressed | refused | failed | timed_out
    code: Mapped[str] = mapped_column(String(40), default="")
    groups_shown: Mapped[int] = mapped_column(default=0)
    groups_suppressed: Mapped[int] = mapped_column(default=0)
    epsilon: Mapped[float] = mapped_column(Float, default=0.0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- per-contract limits of the data API and its sliding-window rate limit (delivery/limits.py) ---


class ContractLimitsRow(Base):
    """The seller's limits of one contract's data API (within the operator's maxima): calls per
    minute of its key, and calls and rows per period. A contract without a row has the
    installation's defaults."""

    __tablename__ = "delivery_contract_limits"

    contract_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    rate_per_minute: Mapped[int]
    quota_period: Mapped[str] = mapped_column(String(8))  # day | month
    calls_per_period: Mapped[int] = mapped_column(BigInteger)
    rows_per_period: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ApiCall(Base):
    """One admitted call of a key: the log the sliding-window rate limit counts (calls of the last
    60 seconds). The metering job deletes rows older than an hour."""

    __tablename__ = "delivery_api_calls"
    __table_args__ = (Index("ix_delivery_api_calls_key", "key_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[int]
    at: Mapped[datetime]
