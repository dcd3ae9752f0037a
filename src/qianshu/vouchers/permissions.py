"""Who may do what with compute vouchers (core/policy.py).

A programme belongs to its voucher administrator; a voucher to the company that holds it; an
order to the company that placed it, with its provider and the programme's administrator as
counterparties (both see it; only the provider among them, a compute provider or a data voucher's
seller, reports usage and claims).
"""

from __future__ import annotations

from qianshu.core.i18n import N_
from qianshu.core.policy import ANYONE, MERCHANT_ORG_TYPES, OPERATOR, Action, Resource, Rule

ADMINISTRATOR = Rule(org_types=("voucher_administrator",), active=True)
PROVIDER = Rule(org_types=("compute_provider",), active=True)
# Companies that may apply for and spend vouchers.
COMPANY_TYPES = ("data_merchant", "buyer", "service_provider")
COMPANY = Rule(org_types=COMPANY_TYPES, active=True)
AUDITOR = Rule(staff=("auditor",))

ACTIONS = (
    Action("vouchers.directory", (ANYONE,), "See compute providers, their offerings, the programmes and "
           "the public voucher dashboard"),
    Action("vouchers.offering.publish", (PROVIDER,), "Publish a compute offering (the provider)",
           N_("Only an approved compute provider publishes offerings.")),
    Action("vouchers.programme.create", (ADMINISTRATOR,), "Create a voucher programme",
           N_("Only an approved voucher administrator creates programmes.")),
    Action("vouchers.programme.manage", (Rule(org_types=("voucher_administrator",), active=True,
                                              relations=("own",)),),
           "Decide applications, keep related parties and broken-trust records, decide reimbursement claims "
           "of one's programme",
           N_("Only the programme's administrator may do this.")),
    Action("vouchers.apply", (COMPANY,), "Apply to a programme for vouchers and spend them on compute",
           N_("Only an approved company applies for vouchers.")),
    Action("vouchers.voucher.use", (Rule(org_types=COMPANY_TYPES, active=True, relations=("own",)),),
           "Apply one's own vouchers to an order", N_("Only the holder may use a voucher.")),
    Action("vouchers.order.read", (Rule(active=True, relations=("own", "counterparty")), OPERATOR, AUDITOR),
           "See an order paid with vouchers (the company, its provider, the programme's administrator)",
           N_("Only the company, its provider and the programme's administrator see this order.")),
    # A data voucher's "provider" is the contract's seller, a data merchant: it claims the same way.
    Action("vouchers.order.deliver", (Rule(org_types=("compute_provider", *MERCHANT_ORG_TYPES), active=True,
                                            relations=("counterparty",)),),
           "Report metered usage and claim reimbursement (the order's provider or data seller)",
           N_("Only the order's compute provider may do this.")),
    Action("vouchers.mine", (Rule(active=True),), "See one's organisation's vouchers, orders and claims"),
)


def programme_resource(admin_org_id: int) -> Resource:
    return Resource(org_id=admin_org_id, public=True)


def voucher_resource(holder_org_id: int) -> Resource:
    return Resource(org_id=holder_org_id)


def order_resource(company_org_id: int, provider_org_id: int, admin_org_id: int) -> Resource:
    return Resource(org_id=company_org_id, counterparties=(provider_org_id, admin_org_id))
