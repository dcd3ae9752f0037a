"""Who may do what with pledges (core/policy.py). A pledge is a resource owned by its pledgor
(the asset's holder) with its bank as pledgee; anyone may ask whether an asset is encumbered."""

from __future__ import annotations

from qianshu.core.i18n import N_
from qianshu.core.policy import ANYONE, OPERATOR, Action, Resource, Rule

BANK = Rule(org_types=("bank",), active=True)
PLEDGEE = Rule(org_types=("bank",), active=True, relations=("pledgee",))
HOLDER = Rule(active=True, relations=("own",))
# An appraiser is a third-party service provider (第三方专业服务机构), the organisation type that
# signs compliance, quality and appraisal reports: no separate type is needed.
APPRAISER = Rule(org_types=("service_provider",), active=True)

ACTIONS = (
    Action("finance.lookup", (ANYONE,), "See whether a certificate is valid, revoked or encumbered"),
    Action("finance.pledge.read", (Rule(relations=("pledgee", "own")), OPERATOR, Rule(staff=("auditor",))),
           "See a pledge, its history and the inclusion proofs of its events",
           N_("Only the pledgee, the holder and the exchange see the pledges of an asset.")),
    Action("finance.pledge.create", (BANK,), "Register a pledge over a certified asset, or record one "
           "registered elsewhere", N_("Only an approved bank registers pledges.")),
    Action("finance.pledge.confirm", (HOLDER,), "Confirm a pledge over one's own asset (the pledgor)",
           N_("Only the holder of the asset confirms its pledge.")),
    Action("finance.pledge.manage", (PLEDGEE,), "Amend, release or enforce a pledge (record, transfer to the bank, "
           "or offer the asset in a forced sale, and withdraw that offer before anyone buys)",
           N_("Only the bank that holds the pledge may change, release or enforce it.")),
    Action("finance.portfolio", (BANK,), "See one's bank's pledges and its loan-to-value limits",
           N_("Only an approved bank has a pledge portfolio.")),
    # A limit is the bank's credit policy: its administrators set it, not every loan officer.
    Action("finance.ltv.set", (Rule(org_types=("bank",), org_roles=("admin",), active=True),),
           "Set one's bank's loan-to-value limits (an administrator of the bank)",
           N_("Only an administrator of the bank sets its loan-to-value limits.")),
    Action("finance.sale.buy", (Rule(active=True),), "Buy a pledged asset offered in a forced sale on default, or "
           "bid in its auction (any approved organisation but its holder and its bank)",
           N_("Only an approved organisation buys in a forced sale.")),
    Action("finance.accounting", (HOLDER, Rule(staff=("auditor",))),
           "Keep the accounting pack of one's organisation's data assets (costs, classification, disclosure)",
           N_("Only the holder keeps the accounting pack of its data assets.")),
    Action("finance.valuation.prepare", (APPRAISER,), "Start a valuation worksheet of a certified asset "
           "(an appraiser organisation)", N_("Only an approved appraiser (service provider) prepares valuations.")),
    Action("finance.valuation.sign", (Rule(org_types=("service_provider",), active=True, relations=("own",)),),
           "Fill in and sign one's own organisation's valuation worksheet with its appraiser key",
           N_("Only the appraiser organisation that prepared the valuation may change or sign it.")),
    Action("finance.valuation.read", (Rule(signed_in=False, relations=("public",)),
                                      Rule(relations=("own", "counterparty")), OPERATOR, Rule(staff=("auditor",))),
           "See a valuation: anyone once signed; before that its appraiser, the asset's holder and the exchange",
           N_("A valuation is seen by its appraiser, the asset's holder and the exchange until it is signed.")),
)


def pledge_resource(pledgor_org_id: int, pledgee_org_id: int) -> Resource:
    return Resource(org_id=pledgor_org_id, pledgees=(pledgee_org_id,))


def valuation_resource(appraiser_org_id: int, holder_org_id: int, signed: bool) -> Resource:
    return Resource(org_id=appraiser_org_id, counterparties=(holder_org_id,), public=signed)
