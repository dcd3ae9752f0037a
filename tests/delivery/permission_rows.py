"""Delivery routes by role: the leak page is its product's seller's (any user of an approved
organisation that holds it; exchange staff hold the stand-in products of their own organisation)
and an operator's, who arbitrates. The catalogue's setup makes the products (``own_listing``)."""

from __future__ import annotations

from typing import Any

from tests.permission_support import ACTIVE, SIGNED_IN, Row

ROWS = {
    ("GET", "/delivery/leaks"): Row(SIGNED_IN, action="catalog.personal"),
    # The product has no data file: an allowed request gets past the policy to a 409.
    ("POST", "/delivery/leaks"): Row(ACTIVE,
                                     body=lambda c: {"listing_id": str(c["own_listing"])},
                                     action="watermark.detect", on="own_listing"),
    ("GET", "/delivery/products/{listing_id:int}/watermark"): Row(
        ACTIVE, params=lambda c: {"listing_id": c["own_listing"]},
        action="watermark.issue", on="own_listing"),
    ("POST", "/delivery/products/{listing_id:int}/watermark"): Row(
        ACTIVE, params=lambda c: {"listing_id": c["own_listing"]}, body=lambda c: {},
        action="watermark.issue", on="own_listing"),
}


def setup(ctx: dict[str, Any], db: Any, make: Any, actor: Any, env: dict[str, Any]) -> None:
    """Nothing of its own: the catalogue's setup has made ``own_listing``."""
