"""Accounts: organisations, users, roles, sign-in, sessions, API tokens, the audit trail."""

from typing import Any

from qianshu.core.capability import MENU_MINE, MENU_OPERATIONS, Manifest, NavItem
from qianshu.core.policy import allows


def _signed_in(actor: Any) -> bool:
    return actor is not None and actor.user_id is not None and allows(actor, "account.self")


MANIFEST = Manifest(
    name="accounts",
    title="Accounts",
    models=True,
    api=True,
    pages=True,
    home=True,
    cli=True,
    templates=True,
    translations=True,
    actions="qianshu.accounts.permissions:ACTIONS",
    settings="qianshu.accounts.settings:AccountsSettings",
    nav=(
        NavItem("/org", "My organisation", _signed_in, order=80, menu=MENU_MINE),
        NavItem("/tokens", "API tokens", _signed_in, order=85, menu=MENU_MINE),
        NavItem("/operator/organisations", "Organisation review",
                lambda a: allows(a, "organisation.review"), order=90, menu=MENU_OPERATIONS),
        NavItem("/operator/jobs", "Background jobs", lambda a: allows(a, "job.manage"), order=92, menu=MENU_OPERATIONS),
        NavItem("/audit", "Audit trail", lambda a: allows(a, "audit.read"), order=95, menu=MENU_OPERATIONS),
    ),
)
