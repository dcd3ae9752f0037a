"""Who may do what in delivery: the actions it declares to the policy (core/policy.py)."""

from __future__ import annotations

from qianshu.core.i18n import N_
from qianshu.core.policy import OPERATOR, Action, Rule

# Users of an approved organisation that holds the product.
SELLER = Rule(org_roles=("admin", "member"), active=True, relations=("own",))
NOT_SELLER = N_("Only the holder of the product may do this with its copies.")
# The buyer of a contract (the exchange's view of a contract: the buyer owns it).
BUYER = Rule(org_roles=("admin", "member"), active=True, relations=("own",))
NOT_BUYER = N_("Only the buyer of this contract may do this.")

ACTIONS = (
    # An operator too: it arbitrates the dispute that follows a leak.
    Action("watermark.detect", (SELLER, OPERATOR),
           "Find which recipient a leaked copy of one's product came from", denied=NOT_SELLER),
    Action("watermark.issue", (SELLER,),
           "Make watermarked copies of one's product and set what their watermark may change", denied=NOT_SELLER),
    # --- data API and sandbox (issue 13): a contract is its buyer's, with the seller as counterparty.
    Action("data_api.key", (BUYER,), "Issue, rotate or revoke the data API key of one's contract (the buyer)",
           denied=NOT_BUYER),
    # The key is the credential (no session or token is asked): its holder acts as the contract's buyer.
    Action("data_api.rows", (Rule(relations=("own",)),),
           "Read a product's rows with the data API key of one's contract in force", denied=NOT_BUYER),
    Action("sandbox.query", (BUYER,), "Ask aggregate questions of a product in the sandbox under one's contract",
           denied=NOT_BUYER),
    Action("sandbox.configure", (SELLER,), "Set the sandbox of one's product: k, differential privacy, budgets",
           denied=NOT_SELLER),
)
