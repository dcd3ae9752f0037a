"""Who may do what in government data sharing (core/policy.py).

A resource is owned by its publishing department. A request is a resource owned by the resource's
department with the requesting department as counterparty; an approved request is a grant the
counterparty uses. Government departments see every department's published metadata but only
their own requests and grants; the big-data bureau (``data_bureau``, the platform operator for
government) sees every request, grant and access for supervision."""

from __future__ import annotations

from qianshu.core.i18n import N_
from qianshu.core.policy import Action, Resource, Rule

# Who takes part in government data sharing: the departments and the big-data bureau.
GOVERNMENT_TYPES = ("government", "data_bureau")
DEPARTMENT = Rule(org_types=GOVERNMENT_TYPES, active=True)
OWNER = Rule(org_types=GOVERNMENT_TYPES, active=True, relations=("own",))
REQUESTER = Rule(org_types=GOVERNMENT_TYPES, active=True, relations=("counterparty",))
BUREAU = Rule(org_types=("data_bureau",), active=True)

ACTIONS = (
    Action("sharing.catalogue.read", (DEPARTMENT,),
           "See the government data resource catalogue (every department's published metadata) and its DCAT-AP export",
           N_("Only government departments see the government data resource catalogue.")),
    Action("sharing.resource.publish", (OWNER,), "Publish or change one's department's data resources",
           N_("Only the department that owns a resource publishes or changes it.")),
    Action("sharing.file.upload", (OWNER,), "Upload a new version of one's resource's feed",
           N_("Only the department that owns a resource uploads its files.")),
    Action("sharing.request.create", (DEPARTMENT,), "Request another department's data resource",
           N_("Only government departments request shared data.")),
    Action("sharing.request.read", (OWNER, REQUESTER, BUREAU),
           "See a sharing request or grant (its owner, its requester, the big-data bureau)",
           N_("Only the two departments and the big-data bureau see a sharing request.")),
    Action("sharing.request.decide", (OWNER,), "Approve, narrow or reject a request for one's department's resource",
           N_("Only the department that owns the resource decides its requests.")),
    Action("sharing.grant.revoke", (OWNER,), "Revoke a grant of one's department's resource (with a reason)",
           N_("Only the department that owns the resource revokes its grants.")),
    Action("sharing.appeal.create", (REQUESTER,),
           "Appeal, once and with a reason, the narrowing or rejection of one's department's request",
           N_("Only the department that made the request appeals its decision.")),
    Action("sharing.appeal.decide", (BUREAU,),
           "Decide a department's appeal against a narrowing or rejection (uphold it, or grant the request as asked)",
           N_("Only the big-data bureau decides appeals between departments.")),
    Action("sharing.extension.ask", (REQUESTER,), "Ask for a later end date of a grant to one's department",
           N_("Only the department the data was granted to asks for a longer grant.")),
    Action("sharing.extension.decide", (OWNER,),
           "Approve (with the new end date) or refuse (with a reason) a longer grant of one's department's resource",
           N_("Only the department that owns the resource decides a longer grant.")),
    Action("sharing.grant.use", (REQUESTER,), "Download a granted feed or query it in the sandbox",
           N_("Only the department the data was granted to uses the grant.")),
    Action("sharing.access.read", (OWNER, BUREAU), "See who accessed one's department's resources",
           N_("Only the owning department and the big-data bureau see the access log.")),
    Action("sharing.supervise", (BUREAU,), "See every department's requests, grants and accesses (supervision)",
           N_("Only the big-data bureau supervises data sharing.")),
)


def resource_of(owner_org_id: int) -> Resource:
    return Resource(org_id=owner_org_id)


def request_resource(owner_org_id: int, requester_org_id: int) -> Resource:
    return Resource(org_id=owner_org_id, counterparties=(requester_org_id,))
