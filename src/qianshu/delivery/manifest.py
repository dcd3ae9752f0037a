"""Delivery: watermarked copies of a product and finding the source of a leaked one; sandbox queries
(aggregates only) over a product's data."""

from typing import Any

from qianshu.core.capability import MENU_MINE, Manifest, NavItem, Periodic
from qianshu.core.policy import allows


def _seller(actor: Any) -> bool:
    return actor is not None and actor.user_id is not None and allows(actor, "listing.offer")


MANIFEST = Manifest(
    name="delivery",
    title="Delivery",
    uses=("catalog", "exchange"),
    models=True,
    api=True,
    pages=True,
    cli=True,
    templates=True,
    translations=True,
    actions="qianshu.delivery.permissions:ACTIONS",
    settings="qianshu.delivery.settings:DeliverySettings",
    nav=(NavItem("/delivery/leaks", "Find a leak", _seller, order=32, menu=MENU_MINE),),
    # --- data API (issue 13): each closed meter interval is reported to the exchange's billing.
    demo="qianshu.demo.delivery_seed:seed",
    # Its section of the exchange's contract page (the page's one extension point).
    contract_panel="qianshu.delivery.pages:contract_panel",
    periodic={"delivery.report_api_usage": Periodic(300.0, "qianshu.delivery.jobs:report_api_usage"),
              # Cached shared files of ended contracts and past their age, never one in use.
              "delivery.sweep_caches": Periodic(3600.0, "qianshu.delivery.jobs:sweep_caches")},
)
