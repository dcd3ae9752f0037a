"""Tables of the catalogue capability.

``catalog_listings``          a data product: one approved registration offered for sale
``catalog_listing_changes``   every change of a listing (who, when, what changed, why)
``catalog_plans``             pricing plans of a listing, each with its ODRL usage policy
``catalog_follows``           buyers following products
``catalog_saved_searches``    buyers' saved searches (the query parameters)
``catalog_demands``           the demand pool: buyers asking for data
``catalog_demand_responses``  merchants' answers to a demand

Listings and demands carry their search text pre-tokenised (``search_title``/``search_body``,
see :mod:`qianshu.catalog.tokens`). Listings are searched in an in-memory index built from
these columns (:mod:`qianshu.catalog.search_index`); demands in the database, through a
full-text index that is not in this metadata: an FTS5 table kept by triggers on SQLite, a GIN
expression index on PostgreSQL (named ``catalog_fts*``, made in migration 0004 and left out of
``alembic check``).

Listing status::

    draft ──submit──▶ pending ──approve──▶ listed ──pause──▶ paused ──resume──▶ listed
      ▲                  └──reject──▶ rejected ──edit+submit──▶ pending
    listed / paused / pending ──delist (holder, operator, or registration revoked)──▶ delisted
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qianshu.core.db import Base
from qianshu.core.timeutil import utcnow

LISTING_STATUSES = ("draft", "pending", "listed", "rejected", "paused", "delisted")
EDITABLE_STATUSES = ("draft", "rejected", "listed", "paused")
DATA_TYPES = ("table", "time_series", "geospatial", "text", "media")
DELIVERY_MODES = ("download", "delta_sharing", "api", "sandbox")
DEMAND_STATUSES = ("open", "awarded", "closed")


def delivery_mask(modes: list[str] | tuple[str, ...]) -> int:
    """Delivery modes as bits, so that filtering and facet counts are plain integer arithmetic."""
    return sum(1 << DELIVERY_MODES.index(m) for m in set(modes) if m in DELIVERY_MODES)


def delivery_modes_of(mask: int) -> list[str]:
    return [m for i, m in enumerate(DELIVERY_MODES) if mask & (1 << i)]


class Listing(Base):
    __tablename__ = "catalog_listings"
    __table_args__ = (
        Index("ix_catalog_listings_status_popularity", "status", "popularity"),
        Index("ix_catalog_listings_status_listed_at", "status", "listed_at"),
        Index("ix_catalog_listings_status_price", "status", "min_price_fen"),
        Index("ix_catalog_listings_org_status", "org_id", "status"),
        Index("ix_catalog_listings_updated_at", "updated_at"),  # the search cache's generation
        Index("ix_catalog_listings_counters_at", "counters_at"),  # the search index catches up from it
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="RESTRICT"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="draft")

    title_zh: Mapped[str] = mapped_column(String(200), default="")
    title_en: Mapped[str] = mapped_column(String(200), default="")
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)

    # Facets, copied from the registration (and the plans) so that search reads one table.
    industry_code: Mapped[str] = mapped_column(String(3), default="")
    industry_section: Mapped[str] = mapped_column(String(1), default="", index=True)
    division_code: Mapped[str] = mapped_column(String(6), default="", index=True)
    prefecture_code: Mapped[str] = mapped_column(String(6), default="", index=True)
    data_type: Mapped[str] = mapped_column(String(16), default="table")
    # The licence the holder lists the product under (a key of catalog.vocab.LICENCES).
    licence: Mapped[str] = mapped_column(String(32), default="qianshu-exchange-1.0",
                                         server_default="qianshu-exchange-1.0")
    update_frequency: Mapped[str] = mapped_column(String(16), default="")
    classification: Mapped[str] = mapped_column(String(16), default="general")
    personal_info: Mapped[str] = mapped_column(String(16), default="none")
    delivery_mask: Mapped[int] = mapped_column(default=0)
    # The lowest price of the active plans ("from ¥…"); 0 when a free plan exists, NULL when
    # every plan is "ask for a quote".
    min_price_fen: Mapped[int | None] = mapped_column(BigInteger)

    views: Mapped[int] = mapped_column(BigInteger, default=0)
    follower_count: Mapped[int] = mapped_column(default=0)
    transaction_count: Mapped[int] = mapped_column(default=0)
    popularity: Mapped[int] = mapped_column(BigInteger, default=0)
    # When a counter (views, followers, transactions) last moved popularity; unlike updated_at it
    # does not invalidate cached searches, but the search index re-reads the popularity from it.
    counters_at: Mapped[datetime | None]

    search_title: Mapped[str] = mapped_column(Text, default="")
    search_body: Mapped[str] = mapped_column(Text, default="")

    review_reason: Mapped[str] = mapped_column(Text, default="")
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    listed_at: Mapped[datetime | None]
    delisted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Optimistic concurrency: two people editing the same listing — the second gets a 409.
    version: Mapped[int] = mapped_column(default=1)

    plans: Mapped[list[PricingPlan]] = relationship(
        back_populates="listing", order_by="PricingPlan.position", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative idiom

    @property
    def delivery_modes(self) -> list[str]:
        return delivery_modes_of(self.delivery_mask)

    def title_in(self, lang: str) -> str:
        return (self.title_en or self.title_zh) if lang == "en" else (self.title_zh or self.title_en)

    def description_in(self, lang: str) -> str:
        return (
            (self.description_en or self.description_zh)
            if lang == "en"
            else (self.description_zh or self.description_en)
        )


class ListingChange(Base):
    __tablename__ = "catalog_listing_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("catalog_listings.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str] = mapped_column(String(16), default="")
    to_status: Mapped[str] = mapped_column(String(16), default="")
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # field → [old, new]
    reason: Mapped[str] = mapped_column(Text, default="")


class PricingPlan(Base):
    __tablename__ = "catalog_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("catalog_listings.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    name_zh: Mapped[str] = mapped_column(String(100), default="")
    name_en: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(24))  # see pricing.PLAN_KINDS
    price_fen: Mapped[int | None] = mapped_column(BigInteger)  # NULL only for "ask for a quote"
    delivery_modes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # ODRL 2.2 JSON-LD
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    listing: Mapped[Listing] = relationship(back_populates="plans")


class Follow(Base):
    __tablename__ = "catalog_follows"
    __table_args__ = (UniqueConstraint("user_id", "listing_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    listing_id: Mapped[int] = mapped_column(ForeignKey("catalog_listings.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SavedSearch(Base):
    __tablename__ = "catalog_saved_searches"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Demand(Base):
    __tablename__ = "catalog_demands"
    __table_args__ = (Index("ix_catalog_demands_status_public", "status", "is_public"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    scenario: Mapped[str] = mapped_column(Text, default="")
    industry_code: Mapped[str] = mapped_column(String(3), default="")
    division_code: Mapped[str] = mapped_column(String(6), default="")
    budget_min_fen: Mapped[int | None] = mapped_column(BigInteger)
    budget_max_fen: Mapped[int | None] = mapped_column(BigInteger)
    deadline: Mapped[date | None]
    is_public: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(12), default="open")
    chosen_response_id: Mapped[int | None]  # no FK: responses point at demands already
    search_title: Mapped[str] = mapped_column(Text, default="")
    search_body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    responses: Mapped[list[DemandResponse]] = relationship(
        back_populates="demand", order_by="DemandResponse.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative idiom


class DemandResponse(Base):
    __tablename__ = "catalog_demand_responses"
    __table_args__ = (UniqueConstraint("demand_id", "org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("catalog_demands.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_listings.id", ondelete="SET NULL"))
    planned_title: Mapped[str] = mapped_column(String(200), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    price_fen: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default="submitted")  # submitted | chosen | not_chosen
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    demand: Mapped[Demand] = relationship(back_populates="responses")
