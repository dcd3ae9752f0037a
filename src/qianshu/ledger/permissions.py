"""Who may do what with the books: the actions the ledger declares to the policy (core/policy.py).

Moving money between accounts (``service.transfer``) is no action of its own: the capability
that causes the move (the exchange paying a contract) checks its own action first.
"""

from __future__ import annotations

from qianshu.core.i18n import N_
from qianshu.core.policy import OPERATOR, Action, Resource, Rule, staff

BOOKKEEPERS = staff("operator", "auditor")
OPERATORS_ONLY = N_("Only the exchange's operators may record deposits and withdrawals.")

ACTIONS = (
    Action("ledger.deposit", (OPERATOR,), "Record a deposit into an organisation's wallet (with the bank reference)",
           denied=OPERATORS_ONLY),
    Action("ledger.withdraw", (OPERATOR,),
           "Record a withdrawal from an organisation's wallet (with the bank reference)",
           denied=OPERATORS_ONLY),
    Action("ledger.statement.read", (Rule(org_roles=("admin",), relations=("own",)), BOOKKEEPERS),
           "See an organisation's wallet and statement: its administrators, operators and auditors",
           denied=N_("Only the organisation's administrators and the exchange's operators and auditors may see "
                     "its statement.")),
    Action("ledger.books.read", (BOOKKEEPERS,), "See the exchange's books: trial balance, fees per month",
           denied=N_("Only the exchange's operators and auditors may see the books.")),
)


def wallet_owner(org_id: int | None) -> Resource:
    return Resource(org_id=org_id)
