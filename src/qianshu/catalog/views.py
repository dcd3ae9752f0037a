"""Presentation helpers shared by the API and the portal: facet labels, notification text."""

from __future__ import annotations

from qianshu.catalog import follows, schemas
from qianshu.catalog.pricing import PRICE_BUCKET_LABELS
from qianshu.catalog.vocab import (
    CLASSIFICATION_LABELS,
    DATA_TYPE_LABELS,
    DELIVERY_LABELS,
    FREQUENCY_LABELS,
    INDUSTRY_SECTIONS,
    region_name,
)
from qianshu.core.i18n import translate
from qianshu.core.inbox import Notification

FACET_TITLES = {
    "industry": "Industry",
    "region": "Region",
    "data_type": "Data type",
    "delivery": "Delivery",
    "price": "Price",
    "classification": "Classification",
    "frequency": "Update frequency",
}
_LABELS = {
    "data_type": DATA_TYPE_LABELS,
    "delivery": DELIVERY_LABELS,
    "price": PRICE_BUCKET_LABELS,
    "classification": CLASSIFICATION_LABELS,
    "frequency": FREQUENCY_LABELS,
}


def facet_label(facet: str, value: str, lang: str) -> str:
    if facet == "industry":
        names = INDUSTRY_SECTIONS.get(value)
        return (names[1] if lang == "en" else names[0]) if names else value
    if facet == "region":
        return region_name(value, lang)
    return translate(_LABELS.get(facet, {}).get(value, value), lang)


def notification_out(note: Notification, lang: str) -> schemas.NotificationOut:
    return schemas.NotificationOut(
        id=note.id,
        listing_id=note.subject_id if note.subject_type == "listing" else None,
        demand_id=note.subject_id if note.subject_type == "demand" else None,
        text=follows.render_notification(note, lang),
        created_at=note.created_at,
        read=note.read_at is not None,
    )
