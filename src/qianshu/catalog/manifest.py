"""The catalogue: listings, pricing plans, usage policies, search, follows, demands, DCAT export."""

from typing import Any

from qianshu.core.capability import MENU_MINE, MENU_OPERATIONS, Manifest, NavItem, Subscription
from qianshu.core.policy import allows


def _merchant(actor: Any) -> bool:
    return actor is not None and actor.user_id is not None and allows(actor, "listing.offer")


MANIFEST = Manifest(
    name="catalog",
    title="Catalogue",
    uses=("registry",),
    models=True,
    api=True,
    pages=True,
    home=True,
    templates=True,
    static=True,
    translations=True,
    actions="qianshu.catalog.permissions:ACTIONS",
    settings="qianshu.catalog.settings:CatalogSettings",
    nav=(
        NavItem("/catalog", "Catalogue", order=20),
        NavItem("/demands", "Demand pool", order=25),
        NavItem("/catalog/mine", "My products", _merchant, order=30, menu=MENU_MINE),
        NavItem("/catalog/follows", "Follows", lambda a: a is not None and a.user_id is not None
                and allows(a, "catalog.personal"), order=35, menu=MENU_MINE),
        NavItem("/operator/listings", "Listing review", lambda a: allows(a, "listing.review"),
                order=88, menu=MENU_OPERATIONS),
    ),
    # The products of a revoked registration are delisted in the revocation's own transaction.
    subscriptions={"registration.revoked": Subscription("qianshu.catalog.hooks:on_registration_revoked",
                                                        in_transaction=True)},
    demo="qianshu.demo.catalog_seed:seed",
)
