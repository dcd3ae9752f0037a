"""Who may do what in the catalogue: the actions it declares to the policy (core/policy.py).

Not to be confused with ``catalog/policy.py``, the products' ODRL usage policies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qianshu.core.i18n import N_
from qianshu.core.policy import (
    ACTIVE_MEMBER,
    ANYONE,
    MERCHANT_ORG_TYPES,
    OPERATOR,
    SIGNED_IN,
    STAFF,
    Action,
    Resource,
    Rule,
)

if TYPE_CHECKING:
    from qianshu.catalog.models import Demand, Listing

STAFF_ONLY = N_("Only exchange staff may do this.")
# Users of an approved organisation that holds the product manage it.
MANAGER = Rule(org_roles=("admin", "member"), active=True, relations=("own",))
NOT_MANAGER = N_("Only the holder of the registration may manage this product.")

ACTIONS = (
    Action("catalog.browse", (ANYONE,), "Search the catalogue and the demand pool, read DCAT"),
    Action("catalog.personal", (SIGNED_IN,),
           "Follow products, read one's notifications, save searches, see one's products and demands"),
    Action("listing.offer", (Rule(org_types=MERCHANT_ORG_TYPES),), "Offer products (the menu 'My products')"),
    Action("listing.create", (ACTIVE_MEMBER,), "List an issued registration of one's organisation as a product"),
    Action("listing.read", (Rule(signed_in=False, relations=("public",)), MANAGER, STAFF),
           "See a product: anyone once listed, its holder and staff always"),
    Action("listing.manage", (MANAGER,), "Edit, price, submit, pause and resume one's product", denied=NOT_MANAGER),
    Action("listing.delist", (OPERATOR, MANAGER), "Delist a product (its holder, or an operator)",
           denied=NOT_MANAGER),
    Action("listing.review", (OPERATOR,), "Approve or reject a product for listing", denied=STAFF_ONLY),
    Action("demand.post", (ACTIVE_MEMBER,), "Post a demand"),
    Action("demand.read", (Rule(signed_in=False, relations=("public",)), Rule(relations=("own",)), STAFF),
           "See a demand: anyone if public, its buyer and staff always"),
    Action("demand.responses.read", (Rule(relations=("own",)), STAFF), "See every answer to a demand"),
    Action("demand.match", (ACTIVE_MEMBER,), "List open demands that match one's products"),
    Action("demand.suggest", (Rule(org_types=("data_merchant",), active=True),),
           "Be shown matching demands on the demand pool page"),
    Action("demand.answer", (Rule(org_types=MERCHANT_ORG_TYPES, active=True),), "Answer a demand",
           denied=N_("Only data merchants can answer demands.")),
    Action("demand.manage", (Rule(active=True, relations=("own",)),), "Choose an answer to or close one's demand"),
)


def listing(item: Listing) -> Resource:
    return Resource(org_id=item.org_id, division=item.division_code or None, public=item.status == "listed")


def demand(item: Demand) -> Resource:
    return Resource(org_id=item.buyer_org_id, division=item.division_code or None, public=item.is_public)
