"""Pricing plans: what a product costs and how it is delivered. Money in integer fen."""

from __future__ import annotations

from typing import Any

from qianshu.core.errors import InvalidInput
from qianshu.core.money import Money

# kind → the unit shown after the price
PLAN_KINDS = {
    "free": "free / open",
    "one_time": "one-time purchase",
    "monthly": "per month",
    "yearly": "per year",
    "per_call": "per API call",
    "per_1000_rows": "per 1,000 rows",
    "quote": "ask for a quote",
}
# Delivery modes that make sense per kind (a per-call price needs the data API or the sandbox).
ALLOWED_DELIVERY = {
    "per_call": ("api", "sandbox"),
}
PRICE_BUCKETS = {  # facet key → (lowest fen inclusive, highest fen exclusive); None = open end
    "free": (0, 1),
    "under_1k": (1, 100_000),
    "1k_10k": (100_000, 1_000_000),
    "10k_100k": (1_000_000, 10_000_000),
    "over_100k": (10_000_000, None),
}
PRICE_BUCKET_LABELS = {
    "free": "Free",
    "under_1k": "Under ¥1,000",
    "1k_10k": "¥1,000–10,000",
    "10k_100k": "¥10,000–100,000",
    "over_100k": "Over ¥100,000",
    "quote": "Price on request",
}


def price_bucket(price_fen: int | None) -> str:
    """The key of ``PRICE_BUCKETS`` a lowest price falls in; ``quote`` when there is none."""
    if price_fen is None:
        return "quote"
    for key, (low, high) in PRICE_BUCKETS.items():
        if price_fen >= low and (high is None or price_fen < high):
            return key
    return "quote"


def check_plan(kind: str, price_fen: int | None, delivery_modes: list[str]) -> int | None:
    """Validate a plan's price for its kind; returns the price to store."""
    if kind not in PLAN_KINDS:
        raise InvalidInput("{field} must be one of: {expected}.", field="kind", expected=", ".join(PLAN_KINDS))
    if kind == "free":
        return 0
    if kind == "quote":
        return None
    if price_fen is None or price_fen <= 0:
        raise InvalidInput("{field}: {reason}", field="price", reason="a paid plan needs a price above zero")
    allowed = ALLOWED_DELIVERY.get(kind)
    if allowed and any(m not in allowed for m in delivery_modes):
        raise InvalidInput(
            "{field}: {reason}", field="delivery_modes", reason="a per-call price needs the data API or the sandbox"
        )
    return price_fen


def price_label(kind: str, price_fen: int | None, translate: Any, money: Any = None) -> str:
    """``¥1,200.00 per month`` / ``免费`` — ``translate`` is the page's ``_``, ``money`` formats fen
    in the page's language (``core.l10n.format_money``)."""
    if kind == "free":
        return str(translate("Free"))
    if kind == "quote" or price_fen is None:
        return str(translate("Price on request"))
    amount = money(price_fen) if money is not None else Money(price_fen).display()
    return f"{amount} {translate(PLAN_KINDS[kind])}"


def lowest_price(plans: list[tuple[str, int | None]]) -> int | None:
    """The "from" price of a product's active plans: None when every plan is a quote."""
    prices = [p for kind, p in plans if kind != "quote" and p is not None]
    return min(prices) if prices else None
