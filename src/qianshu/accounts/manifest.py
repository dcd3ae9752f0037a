"""Accounts: organisations, users, roles, sign-in, sessions, API tokens, the audit trail."""

from qianshu.core.capability import Manifest, NavItem


def _signed_in(actor: object) -> bool:
    return actor is not None and getattr(actor, "user_id", None) is not None


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
    nav=(
        NavItem("/org", "My organisation", _signed_in, order=80),
        NavItem("/tokens", "API tokens", _signed_in, order=85),
        NavItem("/operator/organisations", "Organisation review",
                lambda a: a is not None and a.staff_role == "operator", order=90),
        NavItem("/operator/jobs", "Background jobs", lambda a: a is not None and a.staff_role == "operator", order=92),
        NavItem("/audit", "Audit trail", lambda a: a is not None and a.staff_role in ("operator", "auditor"), order=95),
    ),
)
