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
