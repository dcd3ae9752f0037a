"""What the accounts' pages show, each read by one function: the data and what the viewer may do
with it, decided by the permission policy (``core.policy``) together with the state the services
check, so that a page offers a control only when using it would not be refused. The portal
(``pages.py``) renders these; the audit trail's read function is ``audit_views.browse_audit`` (a
page without controls) and the inbox's ``inbox_views.list_inbox``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from qianshu.accounts import job_views, permissions, service
from qianshu.accounts.models import Organisation, User
from qianshu.core import policy
from qianshu.core.actor import Actor


@dataclass(frozen=True)
class OrganisationActions:
    invite: bool = False  # invite colleagues (an administrator of an approved organisation)
    set_jurisdiction: bool = False  # place users in a division
    remove: frozenset[int] = frozenset()  # the users the viewer may remove: active, not themselves


@dataclass(frozen=True)
class OrganisationView:
    org: Organisation
    users: list[User]
    may: OrganisationActions
    # The roles an invitation may give in this organisation, ``member`` (the default) first
    # (``monitoring_admin``: a government's only).
    roles: tuple[str, ...]


def my_organisation(db: Session, actor: Actor) -> OrganisationView:
    """The viewer's organisation, its users, and what the viewer may do there."""
    org = service.get_organisation(db, actor, actor.org_id or 0)
    users = service.list_users(db, actor, org.id)
    own = permissions.own_organisation(actor)
    administers = policy.allows(actor, "user.administer", own)
    return OrganisationView(org, users, OrganisationActions(
        invite=administers, set_jurisdiction=policy.allows(actor, "user.jurisdiction", own),
        remove=frozenset(u.id for u in users if administers and u.is_active and u.id != actor.user_id)),
        tuple(sorted(policy.org_roles_for(org.org_type), key=lambda role: role != "member")))  # the default first


@dataclass(frozen=True)
class Standing:
    """How the viewer stands, for the pages every visitor sees (the home page)."""

    # The status of the viewer's organisation while the policy holds them back for it (pending,
    # rejected, suspended): the page says so.
    held_back: str | None = None
    apply: bool = False  # may apply for an organisation: belongs to none yet


def standing(actor: Actor) -> Standing:
    return Standing(policy.held_back(actor),
                    actor.org_id is None and not actor.is_staff and policy.allows(actor, "organisation.apply"))


# The organisation review's tabs ("" lists every status).
REVIEW_STATUSES = ("pending", "approved", "rejected", "suspended", "")


@dataclass(frozen=True)
class OrganisationReview:
    organisations: list[Organisation]
    status: str  # the tab shown (an unknown one reads as "pending")
    # organisation id → the decisions the viewer may take on it: an operator, what its status allows
    # (other staff see the list only)
    may_decide: dict[int, tuple[str, ...]] = field(default_factory=dict)


def organisation_review(db: Session, actor: Actor, status: str = "pending") -> OrganisationReview:
    """The operators' review of organisations: those of one status, and the decisions open on each."""
    status = status if status in REVIEW_STATUSES else "pending"
    orgs = service.list_organisations(db, actor, status or None)
    decide = policy.allows(actor, "organisation.review")
    return OrganisationReview(orgs, status, {o.id: service.decisions_for(o) for o in orgs} if decide else {})


@dataclass(frozen=True)
class JobQueue:
    jobs: list[job_views.JobView]
    status: str  # the tab shown ("" for queued, running and failed)
    may_retry: frozenset[int] = frozenset()  # the failed jobs (the service retries only those)


def job_queue(db: Session, actor: Actor, lang: str, status: str = "") -> JobQueue:
    """The operators' view of the background jobs (``job.manage``, checked by the service)."""
    status = status if status in job_views.LISTED_STATUSES else ""
    listed = job_views.list_jobs(db, actor, lang, status)
    retry = policy.allows(actor, "job.manage")
    return JobQueue(listed, status, frozenset(j.id for j in listed if retry and j.status == "failed"))
