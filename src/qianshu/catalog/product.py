"""What a product page shows from the registration behind it: the column profile, the
quality report, the service providers' reports, the certificate and its log proof, and a
sample preview masked wherever the registration scan found personal information.

Sample data of a registration flagged with personal information is audited on every access.
The raw sample rows are cached per data file (``catalog/page_cache.py``); masking and the audit
happen on every request, after the cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.catalog.masking import mask_rows
from qianshu.catalog.models import Listing
from qianshu.catalog.page_cache import page_caches
from qianshu.core import audit
from qianshu.core.actor import Actor
from qianshu.core.errors import NotFound
from qianshu.core.settings import Settings
from qianshu.registry import review as registry_review
from qianshu.registry import service as registry_service

if TYPE_CHECKING:
    from qianshu.registry.models import Certificate, ColumnProfile, ProviderReport, QualityScore, Registration

SAMPLE_LIMIT = 20


@dataclass
class Sample:
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    masked_columns: dict[str, str] = field(default_factory=dict)  # column → PII kind
    available: bool = True


def column_profiles(db: Session, registration_id: int) -> list[ColumnProfile]:
    return registry_service.column_profiles(db, registration_id)


def pii_columns(db: Session, registration_id: int) -> dict[str, str]:
    """Column → the kind of personal information found (a sensitive kind wins)."""
    return registry_service.pii_columns(db, registration_id, sensitive_first=True)


def quality_scores(db: Session, registration_id: int) -> list[QualityScore]:
    return registry_service.quality_report(db, registration_id)


def provider_reports(db: Session, registration_id: int) -> list[ProviderReport]:
    return registry_review.reports(db, registration_id)


def certificate(db: Session, registration_id: int) -> Certificate | None:
    return registry_review.certificate_of(db, registration_id)


def registration(db: Session, listing: Listing) -> Registration:
    return registry_service.load_registration(db, listing.registration_id)


def registration_by_id(db: Session, registration_id: int) -> Registration:
    return registry_service.load_registration(db, registration_id)


def holders_listing(db: Session, registration_id: int, org_id: int) -> Listing | None:
    """The holder's newest listing of a registration, in any status (the exchange's record of a
    forced sale names the product that was sold), or None for an asset never listed."""
    return db.scalar(select(Listing).where(Listing.registration_id == registration_id, Listing.org_id == org_id)
                     .order_by(Listing.id.desc()).limit(1))


@dataclass(frozen=True)
class Seller:
    """Who offers a product, as a buyer sees it: names and the public page, no contact details."""

    id: int
    name: str
    name_en: str
    org_type: str


def seller(db: Session, listing: Listing) -> Seller | None:
    try:
        org = accounts.organisation_by_id(db, listing.org_id)
    except NotFound:
        return None
    return Seller(org.id, org.name, org.name_en or "", org.org_type)


def _registry_sample(db: Session, settings: Settings, registration_id: int, limit: int) -> tuple[list[str], list[Any]]:
    """The registry's sample rows (raw: the caller masks them).

    Read once per process and data file: the normalised Parquet is named by its SHA-256, so the
    rows of a digest never change, and a registration with other data has another digest. A
    registration without data (no digest yet) is not cached."""
    digest = _data_digest(db, registration_id)
    if digest is None:
        return [], []

    def read() -> tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]]:
        columns, rows = registry_service.sample_rows(db, settings, registration_id, limit)
        return tuple(str(c) for c in columns), tuple(tuple(r) for r in rows)

    columns, rows = page_caches.samples.get_or_load((digest, limit), read)
    return list(columns), [list(r) for r in rows]


def _data_digest(db: Session, registration_id: int) -> str | None:
    """The SHA-256 of the normalised Parquet a registration's sample comes from (its own, or that
    of the registration whose data it reuses)."""
    reg = registry_service.load_registration(db, registration_id)
    data = registry_service.load_registration(db, reg.data_from_id) if reg.data_from_id else reg
    return data.parquet_sha256


def masked_sample(db: Session, settings: Settings, actor: Actor, listing: Listing, limit: int = SAMPLE_LIMIT) -> Sample:
    """The sample preview of a product, every personal-information column masked."""
    pii = pii_columns(db, listing.registration_id)
    try:
        columns, rows = _registry_sample(db, settings, listing.registration_id, max(1, min(limit, SAMPLE_LIMIT)))
    except (OSError, LookupError, ValueError, pa.ArrowException):  # a data file missing or unreadable: no preview
        return Sample(masked_columns=pii, available=False)
    if not columns:
        return Sample(masked_columns=pii, available=False)
    return Sample(columns, mask_rows(columns, rows, pii), pii)


def shows_personal_data(listing: Listing, sample: Sample) -> bool:
    """Whether the page shows a sample with personal information in it (masked), which is audited."""
    return sample.available and bool(sample.masked_columns or listing.personal_info != "none")


def record_sample_view(db: Session, actor: Actor, listing: Listing, sample: Sample) -> None:
    """Audit a view of a sample that holds personal information (masked as it is shown)."""
    if shows_personal_data(listing, sample):
        audit.record(
            db,
            actor,
            "listing.sample_viewed",
            target_type="listing",
            target_id=listing.id,
            target_org_id=listing.org_id,
            registration_id=listing.registration_id,
            masked_columns=sorted(sample.masked_columns),
            personal_info=listing.personal_info,
        )


def masked_top_values(profile: ColumnProfile, pii: dict[str, str]) -> list[list[Any]]:
    """A column's most frequent values for the distribution chart, masked if it holds PII."""
    from qianshu.catalog.masking import mask_value

    kind = pii.get(profile.name)
    values = [list(v) for v in (profile.top_values or []) if isinstance(v, list | tuple) and len(v) == 2]
    return [[mask_value(v, kind), n] for v, n in values] if kind else values
