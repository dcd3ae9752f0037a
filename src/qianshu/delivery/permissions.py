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

# The buyer of a contract (exchange.permissions.trade: the buyer's side is "own").
BUYER = Rule(org_roles=("admin", "member"), active=True, relations=("own",))
NOT_BUYER = N_("Only the buyer of this contract may do this.")

ACTIONS = (
    # An operator too: it arbitrates the dispute that follows a leak.
    Action("watermark.detect", (SELLER, OPERATOR),
           "Find which recipient a leaked copy of one's product came from", denied=NOT_SELLER),
    Action("watermark.issue", (SELLER,),
           "Make watermarked copies of one's product and set what their watermark may change", denied=NOT_SELLER),
    # --- signed download links and Delta Sharing (delivery/links.py, delivery/delta_sharing.py) ---
    Action("delivery.download", (BUYER,),
           "Issue signed download links to the watermarked data of one's contract (the buyer)", denied=NOT_BUYER),
    Action("delivery.share", (BUYER,),
           "Create, rotate and revoke the Delta Sharing token of one's contract (the buyer)", denied=NOT_BUYER),
    # The buyer's, but only through what stands for it: a signed link, a Delta Sharing bearer token or a
    # pre-signed file URL (checked by delivery/links.py and delivery/delta_sharing.py); a portal session
    # or an API token of any role is refused.
    Action("delivery.fetch", (BUYER,),
           "Fetch a copy by its signed link, or read a share with the contract's Delta Sharing token (the buyer, "
           "holding the link or token; no session or API token grants it)",
           denied=N_("Only a valid signed link or Delta Sharing token gives access to this data.")),

    # --- data API and sandbox (issue 13): a contract is its buyer's, with the seller as counterparty.
    Action("data_api.key", (BUYER,), "Issue, rotate or revoke the data API key of one's contract (the buyer)",
           denied=NOT_BUYER),
    # The key is the credential (no session or token is asked): its holder acts as the contract's buyer.
    Action("data_api.rows", (Rule(relations=("own",)),),
           "Read a product's rows with the data API key of one's contract in force", denied=NOT_BUYER),
    Action("sandbox.query", (BUYER,), "Ask aggregate questions of a product in the sandbox under one's contract",
           denied=NOT_BUYER),
    # The seller of the contract (its counterparty), within the operator's maxima; operators too.
    Action("data_api.limits", (Rule(org_roles=("admin", "member"), active=True, relations=("counterparty",)),
                               OPERATOR),
           "Set the rate limit and quota of a data API contract (its seller)",
           denied=N_("Only the seller of this contract may set its limits.")),
    Action("sandbox.configure", (SELLER,), "Set the sandbox of one's product: k, differential privacy, budgets",
           denied=NOT_SELLER),
)
