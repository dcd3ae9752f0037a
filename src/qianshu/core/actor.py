"""Who is acting: every service function takes an ``Actor`` as well as a database session."""

from __future__ import annotations

from dataclasses import dataclass, field

STAFF_ROLES = ("operator", "reviewer", "auditor")
# monitoring_admin: of a government organisation (the big-data bureau), sets the monitoring rules
# of its jurisdiction (monitoring/permissions.py).
ORG_ROLES = ("admin", "member", "monitoring_admin")
ALL_SCOPES = frozenset({"read", "write"})


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int | None
    org_id: int | None = None
    org_role: str | None = None  # admin | member | monitoring_admin
    staff_role: str | None = None  # operator | reviewer | auditor (platform staff)
    org_status: str | None = None  # the organisation's status: approved, suspended, ...
    org_type: str | None = None
    ip: str | None = None
    via: str = "portal"  # portal | api | cli | system
    scopes: frozenset[str] = field(default=ALL_SCOPES)
    display_name: str = ""
    jurisdiction: str | None = None  # a GB/T 2260 division code the user acts within (core.policy.within)

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None or self.via == "system"

    @property
    def is_staff(self) -> bool:
        return self.staff_role is not None

    def has_staff_role(self, *roles: str) -> bool:
        return self.staff_role in roles

    @property
    def org_active(self) -> bool:
        return self.org_status == "approved"


ANONYMOUS = Actor(user_id=None, via="anonymous", scopes=frozenset({"read"}))
SYSTEM = Actor(user_id=None, via="system", staff_role="operator", display_name="system")
