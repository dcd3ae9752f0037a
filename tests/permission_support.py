"""Shared pieces of the permission matrix (tests/test_permission_matrix.py).

A row names the route's action(s) as declared to the policy (core/policy.py) and the object it
is done to; the matrix asks the policy who may, for every role below, and checks that the app
answers accordingly. ``allowed``, where given, is what the route allowed before the policy
existed, for the first seven roles: the matrix checks that the policy still says exactly that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The seven roles of the original matrix: users of a data merchant, and exchange staff.
BASE_ROLES = ("anonymous", "pending_admin", "member", "admin", "operator", "reviewer", "auditor")
# Administrators of every other organisation type (data merchants and the exchange are above).
ORG_TYPE_ROLES = ("admin-of-buyer", "admin-of-service_provider", "admin-of-bank", "admin-of-government",
                  "admin-of-voucher_administrator", "admin-of-compute_provider",
                  "admin-of-data_bureau")
# Government caseworkers whose jurisdiction holds the registrations' region (520102) or does not.
JURISDICTION_ROLES = ("caseworker_in", "caseworker_out")
JURISDICTIONS = {"caseworker_in": "520100", "caseworker_out": "520200"}
ROLES = BASE_ROLES + ORG_TYPE_ROLES + JURISDICTION_ROLES

EVERYONE = frozenset(BASE_ROLES)
SIGNED_IN = EVERYONE - {"anonymous"}
ACTIVE = frozenset({"member", "admin", "operator", "reviewer", "auditor"})  # users of approved organisations
STAFF = frozenset({"operator", "reviewer", "auditor"})
NOBODY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Row:
    """``action``: the action the route does (a tuple: all of them; ``"a|b"``: either); ``on``: the
    key of the object it is done to in ``ctx["res"]`` (a ``core.policy.Resource``)."""

    allowed: frozenset[str] | None = None
    body: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    params: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    query: str = ""
    action: str | tuple[str, ...] = ""
    on: str | None = None
    also: tuple[Row, ...] = ()  # further requests of the same route (other objects)

    def actions(self) -> tuple[str, ...]:
        return (self.action,) if isinstance(self.action, str) else self.action
