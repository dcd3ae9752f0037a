"""Delivery routes by role: the leak page is its product's seller's (any user of an approved
organisation that holds it; exchange staff hold the stand-in products of their own organisation)
and an operator's, who arbitrates. The catalogue's setup makes the products (``own_listing``)."""

from __future__ import annotations

from typing import Any

from tests.permission_support import ACTIVE, SIGNED_IN, Row

A = "/api/v1/delivery"


def _on_contract(action: str, body: dict[str, Any] | None = None) -> Row:
    return Row(params=lambda c: {"contract_id": c["other_contract"]}, body=lambda c: body or {}, action=action,
               on="other_contract")


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
    # --- signed download links and Delta Sharing ---
    # The exchange's setup makes ``other_contract`` (between two other organisations): staff may see
    # its delivery page, no one here is its buyer.
    ("GET", "/delivery/contracts/{contract_id:int}"): Row(
        params=lambda c: {"contract_id": c["other_contract"]}, action="trade.read", on="other_contract"),
    ("POST", "/delivery/contracts/{contract_id:int}/links"): Row(
        params=lambda c: {"contract_id": c["other_contract"]}, body=lambda c: {"format": "csv"},
        action="delivery.download", on="other_contract"),
    ("POST", "/delivery/contracts/{contract_id:int}/sharing-token"): Row(
        params=lambda c: {"contract_id": c["other_contract"]}, body=lambda c: {},
        action="delivery.share", on="other_contract"),
    ("POST", "/delivery/contracts/{contract_id:int}/sharing-revoke"): Row(
        params=lambda c: {"contract_id": c["other_contract"]}, body=lambda c: {},
        action="delivery.share", on="other_contract"),
    # A signed link or a bearer token is the only authority: a session of any role is refused.
    ("GET", "/delivery/contracts/{contract_id:int}/downloads/{link_id:int}"): Row(
        params=lambda c: {"contract_id": c["other_contract"], "link_id": 1}, query="?expires=1&signature=x",
        action="delivery.fetch"),
    **{("GET", f"/delta-sharing{path}"): Row(params=lambda c: {"share": "s", "schema": "product", "table": "data",
                                                             "token_id": 1, "version": 0, "name": "part-00000.parquet"},
                                          action="delivery.fetch")
       for path in ("/shares", "/shares/{share}", "/shares/{share}/schemas", "/shares/{share}/schemas/{schema}/tables",
                    "/shares/{share}/all-tables", "/shares/{share}/schemas/{schema}/tables/{table}/version",
                    "/shares/{share}/schemas/{schema}/tables/{table}/metadata",
                    "/files/{token_id:int}/{version:int}/{name}")},
    ("POST", "/delta-sharing/shares/{share}/schemas/{schema}/tables/{table}/query"): Row(
        params=lambda c: {"share": "s", "schema": "product", "table": "data"}, body=lambda c: {},
        action="delivery.fetch"),

    # --- data API and sandbox: the exchange's ``other_contract`` is between two other organisations,
    # so nobody here is its buyer; its parties' staff readers see the sandbox history.
    ("POST", f"{A}/contracts/{{contract_id}}/api-key"): _on_contract("data_api.key"),
    ("DELETE", f"{A}/contracts/{{contract_id}}/api-key"): _on_contract("data_api.key"),
    # Rows are read with a contract's API key, never with a session: without one, everyone gets 401.
    ("GET", f"{A}/data/rows"): Row(frozenset(), action="data_api.rows"),
    ("POST", f"{A}/contracts/{{contract_id}}/sandbox/queries"): _on_contract(
        "sandbox.query", {"sql": "SELECT count(*) FROM data"}),
    ("GET", f"{A}/contracts/{{contract_id}}/sandbox/queries"): _on_contract("trade.read"),
    ("PUT", f"{A}/products/{{listing_id}}/sandbox"): Row(
        ACTIVE, params=lambda c: {"listing_id": c["own_listing"]}, body=lambda c: {"k": 10},
        action="sandbox.configure", on="own_listing"),
    # --- per-contract limits, the decoy trace, the seller's sandbox form ---
    ("GET", f"{A}/contracts/{{contract_id}}/limits"): _on_contract("trade.read"),
    ("PUT", f"{A}/contracts/{{contract_id}}/limits"): _on_contract(
        "data_api.limits", {"rate_per_minute": 5, "quota_period": "day", "calls_per_period": 10,
                            "rows_per_period": 10}),
    ("GET", "/delivery/contracts/{contract_id:int}/limits"): _on_contract("trade.read"),
    ("POST", "/delivery/contracts/{contract_id:int}/limits"): _on_contract(
        "data_api.limits", {"rate_per_minute": "5", "quota_period": "day", "calls_per_period": "10",
                            "rows_per_period": "10"}),
    # The product has no data file: an allowed request gets past the policy to a 409.
    ("POST", f"{A}/products/{{listing_id}}/trace"): Row(
        ACTIVE, params=lambda c: {"listing_id": c["own_listing"]}, body=lambda c: {},
        action="watermark.detect", on="own_listing"),
    ("GET", "/delivery/products/{listing_id:int}/sandbox"): Row(
        ACTIVE, params=lambda c: {"listing_id": c["own_listing"]}, action="sandbox.configure", on="own_listing"),
    ("POST", "/delivery/products/{listing_id:int}/sandbox"): Row(
        ACTIVE, params=lambda c: {"listing_id": c["own_listing"]}, body=lambda c: {"k": "10", "budget": "1"},
        action="sandbox.configure", on="own_listing"),
    ("POST", "/delivery/contracts/{contract_id:int}/api-key"): _on_contract("data_api.key"),
    ("GET", "/delivery/contracts/{contract_id:int}/sandbox"): _on_contract("sandbox.query"),
    ("POST", "/delivery/contracts/{contract_id:int}/sandbox"): _on_contract(
        "sandbox.query", {"sql": "SELECT count(*) FROM data"}),
}


def setup(ctx: dict[str, Any], db: Any, make: Any, actor: Any, env: dict[str, Any]) -> None:
    """Nothing of its own: the catalogue's setup has made ``own_listing``."""
