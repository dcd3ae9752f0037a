"""Who may do what in accounts: the actions this capability declares to the policy (core/policy.py).

Services call ``policy.require(actor, action, resource)``; pages call ``policy.allows``. The
token-scope check (``require_scope``) is about the credential, not the person, and stays here.
"""

from __future__ import annotations

from qianshu.core.actor import Actor
from qianshu.core.errors import PermissionDenied
from qianshu.core.i18n import N_
from qianshu.core.policy import (
    ANYONE,
    MEMBER_ORG_TYPES,
    SIGNED_IN,
    STAFF,
    Action,
    Resource,
    Rule,
    staff,
)

STAFF_ONLY = N_("Only exchange staff may do this.")

ACTIONS = (
    Action("site.view", (ANYONE,), "Read the public pages: home, health probes, sign-in, API docs, language"),
    Action("organisation.apply", (ANYONE,), "Apply for an organisation account"),
    Action("invitation.accept", (ANYONE,), "Accept an invitation (holding its link)"),
    Action("account.self", (SIGNED_IN,), "See one's own account, manage one's own API tokens"),
    Action("organisation.view", (Rule(relations=("own",)), STAFF),
           "See an organisation and its users (one's own; staff: every one)"),
    Action("organisation.list", (STAFF,), "List organisation applications", denied=STAFF_ONLY),
    Action("organisation.review", (staff("operator"),), "Approve, reject or suspend an organisation",
           denied=STAFF_ONLY),
    # In the exchange's own organisation only operators administer users: reviewers and auditors
    # have exactly their staff rights, whatever org_role an older release gave them.
    Action("user.administer", (
        Rule(org_roles=("admin",), org_types=MEMBER_ORG_TYPES, active=True, relations=("own",)),
        Rule(staff=("operator",), org_roles=("admin",), active=True, relations=("own",)),
    ), "Invite and remove users of one's organisation",
        denied=N_("Only an administrator of the organisation may do this.")),
    Action("user.jurisdiction", (
        staff("operator"),
        Rule(org_roles=("admin",), org_types=MEMBER_ORG_TYPES, active=True, relations=("own",)),
    ), "Set or clear a user's jurisdiction (operators: anyone's; an administrator: their organisation's users')",
        denied=N_("Only an administrator of the organisation may do this.")),
    Action("audit.read", (staff("operator", "auditor"),), "Browse the audit trail", denied=STAFF_ONLY),
    Action("job.manage", (staff("operator"),), "See background jobs and retry a failed one", denied=STAFF_ONLY),
)


def require_scope(actor: Actor, scope: str) -> None:
    if scope not in actor.scopes:
        raise PermissionDenied("This API token lacks the '{scope}' scope.", scope=scope)


def own_organisation(actor: Actor) -> Resource:
    """The actor's organisation as a resource (for actions on one's own organisation)."""
    return Resource(org_id=actor.org_id)
