"""Who may do what in the exchange: the actions it declares to the policy (core/policy.py).

An order or a contract is seen by the policy as a resource owned by the buyer, with the seller
as its counterparty (:func:`trade`): ``own`` is the buyer's side, ``counterparty`` the seller's.
The contract that records an asset transfer by forced sale (``transfers.py``) also has the bank
that enforced its pledge by the sale as ``pledgee``: that bank may read it (``trade.read``) and do
nothing else, as no other action admits a pledgee. What state a trade must be in for an action
stays the service's business.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qianshu.core.i18n import N_
from qianshu.core.policy import ANYONE, OPERATOR, SIGNED_IN, STAFF, Action, Resource, Rule

if TYPE_CHECKING:
    from qianshu.exchange.models import Contract, Order

MEMBERS = ("admin", "member")
BUYER = Rule(org_roles=MEMBERS, active=True, relations=("own",))
SELLER = Rule(org_roles=MEMBERS, active=True, relations=("counterparty",))
PARTY = Rule(org_roles=MEMBERS, active=True, relations=("own", "counterparty"))
# The bank whose forced sale of a pledged asset a contract records (``transfers.py``).
SELLING_BANK = Rule(org_types=("bank",), relations=("pledgee",))
NOT_BUYER = N_("Only the buyer of this trade may do this.")
NOT_SELLER = N_("Only the seller of this trade may do this.")
NOT_PARTY = N_("Only the parties to this contract may do this.")
OPERATORS_ONLY = N_("Only exchange operators may do this.")

ACTIONS = (
    Action("exchange.statistics", (ANYONE,), "See the exchange's public statistics and download their data"),
    Action("exchange.order", (Rule(org_roles=MEMBERS, active=True, relations=("public",)),),
           "Order a plan of a listed product, or ask for a quote",
           denied=N_("Only members of an approved organisation can order.")),
    Action("exchange.mine", (SIGNED_IN,), "See one's trades (orders and contracts) and what waits for one"),
    Action("trade.read", (Rule(relations=("own", "counterparty")), SELLING_BANK, STAFF),
           "See an order or a contract: its parties, exchange staff, and the bank whose forced sale of a "
           "pledged asset it records", denied=NOT_PARTY),
    Action("order.answer", (SELLER,), "Accept, quote for or refuse an order (the seller)", denied=NOT_SELLER),
    Action("order.decide", (BUYER,), "Accept a quote or withdraw an order (the buyer)", denied=NOT_BUYER),
    Action("contract.sign", (PARTY,), "Accept (sign) or decline a contract (either party)", denied=NOT_PARTY),
    Action("contract.change", (PARTY,),
           "Propose, agree to or reject an amendment or early termination (either party)", denied=NOT_PARTY),
    Action("contract.operate", (OPERATOR,), "Amend or terminate a contract as the exchange operator",
           denied=OPERATORS_ONLY),
    Action("contract.pay", (BUYER,), "Pay a contract from one's wallet into escrow (the buyer)", denied=NOT_BUYER),
    Action("contract.deliver", (SELLER,), "Mark a paid contract delivered (the seller)", denied=NOT_SELLER),
    Action("contract.accept_delivery", (BUYER,), "Accept the delivery, which settles the contract (the buyer)",
           denied=NOT_BUYER),
    Action("contract.refund", (SELLER, OPERATOR),
           "Refund all or part of the price to the buyer (from escrow; after settlement from the seller and the fee)",
           denied=NOT_SELLER),
    Action("contract.dispute", (PARTY,), "Raise a dispute over a paid contract (either party)", denied=NOT_PARTY),
    Action("contract.decide_dispute", (OPERATOR,), "Decide a dispute, with a written reason (operators)",
           denied=OPERATORS_ONLY),
    Action("contract.request_refund", (BUYER,),
           "Ask for a refund after settlement, or take a refused request to the operator (the buyer)",
           denied=NOT_BUYER),
    Action("contract.answer_refund", (SELLER,), "Accept or refuse the buyer's refund request (the seller)",
           denied=NOT_SELLER),
    Action("contract.decide_refund", (OPERATOR,),
           "Decide a refund request taken to the operator, with a written reason (operators)",
           denied=OPERATORS_ONLY),
    Action("exchange.bills", (SIGNED_IN,),
           "See one's organisation's usage bills of metered contracts (as buyer or seller)"),
    Action("exchange.bills.all", (OPERATOR,), "See every organisation's usage bills (operators)",
           denied=OPERATORS_ONLY),
    Action("contract.meter", (OPERATOR,), "Report metered usage of a contract, which charges it (delivery, as system)",
           denied=OPERATORS_ONLY),
)


def trade(item: Order | Contract) -> Resource:
    pledgees = () if item.pledgee_org_id is None else (item.pledgee_org_id,)
    return Resource(org_id=item.buyer_org_id, counterparties=(item.seller_org_id,), pledgees=pledgees)
