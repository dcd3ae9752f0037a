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

from sqlalchemy import JSON, BigInteger, Index, String
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
    file_format: Mapped[str] = mapped_column(String(16))  # csv | csv-gb18030 | xlsx | parquet
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
