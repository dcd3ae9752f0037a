"""Tables of delivery.

``delivery_watermarked_copies``  every watermarked copy made of a product: for whom (the
recipient key, a contract id), in which format, how many rows. A leak is looked for among the
recipients of a product's copies (and its contracts, once the exchange delivers through here).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
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
