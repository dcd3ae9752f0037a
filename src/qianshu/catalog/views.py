"""Presentation helpers shared by the API and the portal: facet labels, notification text, and the
label look-ups the catalogue's templates use (``Labels``)."""

from __future__ import annotations

from typing import Any

from qianshu.catalog import follows, policy, pricing, schemas
from qianshu.catalog.pricing import PRICE_BUCKET_LABELS
from qianshu.catalog.vocab import (
    CLASSIFICATION_LABELS,
    DATA_TYPE_LABELS,
    DELIVERY_LABELS,
    FREQUENCY_LABELS,
    INDUSTRY_SECTIONS,
    LICENCES,
    industry_name,
    region_name,
)
from qianshu.core.i18n import label, translate
from qianshu.core.inbox import Notification
from qianshu.core.l10n import format_money

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


class Labels:
    """Label look-ups for templates (one object instead of many dicts)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def industry(self, code: str) -> str:
        return industry_name(code, self.lang)

    def region(self, code: str) -> str:
        return region_name(code, self.lang)

    def facet(self, name: str, value: str) -> str:
        return facet_label(name, value, self.lang)

    # Enumerated values are labelled by message context, as the templates' ``label`` filter does.
    def status(self, value: str) -> str:
        return label(value, "listing status", self.lang)

    def delivery(self, value: str) -> str:
        return label(value, "delivery mode", self.lang)

    def data_type(self, value: str) -> str:
        return label(value, "data type", self.lang)

    def classification(self, value: str) -> str:
        return label(value, "classification", self.lang)

    def frequency(self, value: str) -> str:
        return label(value, "update frequency", self.lang)

    def licence(self, key: str) -> str:
        return translate(LICENCES[key].title, self.lang) if key in LICENCES else key

    def price(self, kind: str, fen: int | None) -> str:
        return pricing.price_label(kind, fen, lambda m: translate(m, self.lang),
                                   money=lambda amount: format_money(amount, self.lang))

    def from_price(self, fen: int | None) -> str:
        if fen is None:
            return translate("Price on request", self.lang)
        return (
            translate("Free", self.lang)
            if fen == 0
            else translate("from {price}", self.lang, price=format_money(fen, self.lang))
        )

    def policy(self, odrl: dict[str, Any]) -> list[str]:
        return policy.describe(policy.terms_from_odrl(odrl), self.lang)
