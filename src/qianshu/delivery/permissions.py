"""Who may do what in delivery: the actions it declares to the policy (core/policy.py)."""

from __future__ import annotations

from qianshu.core.i18n import N_
from qianshu.core.policy import OPERATOR, Action, Rule

# Users of an approved organisation that holds the product.
SELLER = Rule(org_roles=("admin", "member"), active=True, relations=("own",))
NOT_SELLER = N_("Only the holder of the product may do this with its copies.")

ACTIONS = (
    # An operator too: it arbitrates the dispute that follows a leak.
    Action("watermark.detect", (SELLER, OPERATOR),
           "Find which recipient a leaked copy of one's product came from", denied=NOT_SELLER),
    Action("watermark.issue", (SELLER,),
           "Make watermarked copies of one's product and set what their watermark may change", denied=NOT_SELLER),
)
