"""Delivery test helpers: the catalogue's products, with data behind them."""

from __future__ import annotations

from tests.catalog.conftest import buyer, listed, merchant, operator, registration

__all__ = ["buyer", "listed", "merchant", "operator", "registration"]
