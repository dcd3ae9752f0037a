"""Who may do what with registrations: the actions the registry declares to the policy (core/policy.py).

The holder of a registration is its organisation (``own``); a transfer's receiving organisation
is its counterparty and may act as a holder. A government department whose user holds a
jurisdiction may read the registrations whose region lies within it (and only those).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qianshu.core.i18n import N_
from qianshu.core.policy import (
    ANYONE,
    MERCHANT_ORG_TYPES,
    OPERATOR,
    SIGNED_IN,
    STAFF,
    Action,
    Relation,
    Resource,
    Rule,
    staff,
)

if TYPE_CHECKING:
    from qianshu.registry.models import Objection, ProviderReport, Registration

STAFF_ONLY = N_("Only exchange staff may do this.")
HOLDER: tuple[Relation, ...] = ("own", "counterparty")
PROVIDER = Rule(org_types=("service_provider",))

ACTIONS = (
    Action("registration.public", (ANYONE,), "Read public notices and certificates, verify a certificate"),
    Action("registration.create", (Rule(org_types=MERCHANT_ORG_TYPES, active=True),), "Start a registration",
           denied=N_("Only data merchants and government departments register data.")),
    Action("registration.list", (SIGNED_IN,), "List one's organisation's registrations"),
    Action("registration.read_all", (STAFF,), "See every registration and the review queue", denied=STAFF_ONLY),
    Action("registration.read", (
        Rule(relations=HOLDER), STAFF, Rule(signed_in=False, relations=("public",)),
        Rule(org_types=("government",), active=True, jurisdiction="required"),
    ), "See a registration: its holder, staff, anyone once it is in public notice, and a government "
       "department's user whose jurisdiction holds its region"),
    Action("registration.assess", (PROVIDER,), "See registrations under review (service providers assess them)"),
    Action("registration.edit", (Rule(active=True, relations=HOLDER),),
           "Edit a draft: files, declaration, contract; submit it; ask for a follow-up"),
    Action("registration.review", (staff("operator", "reviewer"),), "Take, approve, return or reject a registration",
           denied=STAFF_ONLY),
    Action("registration.certify", (OPERATOR,), "Issue and revoke certificates, decide objections",
           denied=STAFF_ONLY),
    Action("registration.pii.read", (Rule(relations=HOLDER), STAFF, PROVIDER), "See personal-data findings",
           denied=N_("Only the holder and exchange staff may see personal-data findings.")),
    Action("registration.contract.read", (Rule(relations=HOLDER), STAFF), "Download the purchase contract",
           denied=N_("Only the holder and exchange staff may download the purchase contract.")),
    Action("objection.file", (SIGNED_IN,), "Object to a registration in public notice"),
    Action("objection.evidence.upload", (Rule(relations=("own",)),), "Add evidence to one's objection",
           denied=N_("Only whoever filed the objection may add its evidence.")),
    Action("objection.evidence.read", (Rule(relations=("own", "counterparty")), STAFF),
           "Download an objection's evidence (the objector, the holder, staff)",
           denied=N_("Only the objector, the holder and exchange staff may download the evidence.")),
    Action("report.attach", (Rule(org_types=("service_provider",), active=True),),
           "Attach a compliance, quality or appraisal report", denied=N_("Only service providers attach reports.")),
    Action("report.document.upload", (Rule(active=True, relations=("own",)),), "Add the document of one's report",
           denied=N_("Only the service provider that attached the report may add its document.")),
    Action("transfer.confirm", (Rule(active=True, relations=("counterparty",)),), "Confirm a transfer (the receiver)",
           denied=N_("Only the receiving organisation confirms a transfer.")),
)


def registration(reg: Registration, *, public: bool | None = None) -> Resource:
    """A registration as the policy sees it: held by its holder, the transferee its counterparty."""
    from qianshu.registry.models import PUBLIC_STATUSES

    return Resource(org_id=reg.holder_org_id,
                    counterparties=(reg.transferee_org_id,) if reg.transferee_org_id else (),
                    division=reg.division_code or None,
                    public=reg.status in PUBLIC_STATUSES if public is None else public)


def objection(objection: Objection, reg: Registration) -> Resource:
    """An objection: its objector's organisation owns it; the registration's holders are its counterparties."""
    holders = tuple(o for o in (reg.holder_org_id, reg.transferee_org_id) if o)
    return Resource(org_id=objection.filed_by_org_id, counterparties=holders, division=reg.division_code or None)


def report(report: ProviderReport) -> Resource:
    return Resource(org_id=report.provider_org_id)
