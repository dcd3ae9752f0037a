"""What the accounts' pages show, each read by one function: the data and what the viewer may do
with it, decided by the permission policy (``core.policy``), so that a page offers a control only
when using it would not be refused. The portal (``pages.py``) renders these.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from qianshu.accounts import permissions, service
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
