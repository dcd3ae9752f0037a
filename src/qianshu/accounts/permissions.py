"""Who may do what. Services call these before they change or reveal anything."""

from __future__ import annotations

from qianshu.core.actor import Actor
from qianshu.core.errors import NotAuthenticated, PermissionDenied


def require_signed_in(actor: Actor) -> None:
    if not actor.is_authenticated:
        raise NotAuthenticated("Please sign in first.")


def require_scope(actor: Actor, scope: str) -> None:
    if scope not in actor.scopes:
        raise PermissionDenied("This API token lacks the '{scope}' scope.", scope=scope)


def require_staff(actor: Actor, *roles: str) -> None:
    """Platform staff with one of ``roles`` (any staff role when none is named)."""
    require_signed_in(actor)
    if not actor.is_staff or (roles and not actor.has_staff_role(*roles)):
        raise PermissionDenied("Only exchange staff may do this.")


def require_active_member(actor: Actor) -> None:
    """A user of an approved organisation (suspended and pending ones can only look)."""
    require_signed_in(actor)
    if not actor.org_active:
        raise PermissionDenied("Your organisation is not approved (or is suspended).")


def administers_users(actor: Actor) -> bool:
    """Whether ``actor`` may invite and remove users of their own organisation.

    In the exchange's own organisation only operators do: reviewers and auditors have exactly
    their staff rights, whatever ``org_role`` an older release gave them.
    """
    if actor.org_role != "admin" or not actor.org_active:
        return False
    return actor.org_type != "exchange_operator" or actor.has_staff_role("operator")


def require_org_admin(actor: Actor, org_id: int | None = None) -> None:
    require_active_member(actor)
    if not administers_users(actor) or (org_id is not None and actor.org_id != org_id):
        raise PermissionDenied("Only an administrator of the organisation may do this.")


def can_see_organisation(actor: Actor, org_id: int) -> bool:
    return actor.org_id == org_id or actor.is_staff
