"""One permission policy: every action is declared once, with who may do it.

A capability declares its actions in ``permissions.py`` (``ACTIONS``), which its manifest names
(``actions="qianshu.<name>.permissions:ACTIONS"``). An action is allowed when one of its rules
matches; a rule reads four things:

- **role**: the user's role in their organisation (``admin``, ``member``) and their exchange
  staff role (``operator``, ``reviewer``, ``auditor``);
- **organisation type** (``ORG_TYPES``) and whether the organisation is approved;
- **relation to the resource**: the actor's organisation owns it (``own``), is its counterparty
  (a transferee, a buyer ...), holds a pledge on it (``pledgee``), or the resource is public;
- **jurisdiction**: a GB/T 2260 division code the user holds (province, prefecture, county, or a
  9-digit township or 12-digit village statistical code); a rule may require the resource's
  division to lie within it (``within``).

Services call ``require(actor, action, resource)``, which raises the domain errors
(``NotAuthenticated``, ``PermissionDenied``); pages call ``allows`` with the same arguments to
decide what to show, so a button that would be refused is not shown. What a resource is in a
given state (a draft, a registration under review) stays the services' business: the policy
decides who, the service decides when.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from qianshu.core.actor import ORG_ROLES, STAFF_ROLES, Actor
from qianshu.core.errors import NotAuthenticated, PermissionDenied, QianshuError
from qianshu.core.i18n import N_

# Organisation types: what there is and what is coming (voucher administrators, compute providers).
# ``government`` is a government department; ``exchange_operator`` is the exchange itself;
# ``data_bureau`` is the big-data bureau (大数据管理局): a government body that runs the government
# data-sharing platform and supervises the departments' sharing (sharing/, docs/sharing.md).
ORG_TYPES = ("data_merchant", "buyer", "service_provider", "bank", "government", "exchange_operator",
             "voucher_administrator", "compute_provider", "data_bureau")
# Who registers data and lists products (the bureau publishes public data too).
MERCHANT_ORG_TYPES = ("data_merchant", "government", "data_bureau")
# Every type except the exchange's own organisation (whose users act through their staff role).
MEMBER_ORG_TYPES = tuple(t for t in ORG_TYPES if t != "exchange_operator")

Relation = Literal["any", "own", "counterparty", "pledgee", "public"]
RELATIONS: tuple[Relation, ...] = ("own", "counterparty", "pledgee", "public")
JurisdictionUse = Literal["ignored", "required", "limits"]


@dataclass(frozen=True, slots=True)
class Resource:
    """What an action is done to, as the policy sees it."""

    org_id: int | None = None  # the organisation that owns it
    counterparties: tuple[int, ...] = ()  # organisations on the other side (a transferee, a buyer)
    pledgees: tuple[int, ...] = ()  # organisations holding a pledge on it (banks)
    division: str | None = None  # where it is (a GB/T 2260 code)
    public: bool = False  # whether anyone may see it

    def relations(self, actor: Actor) -> set[str]:
        found = {"public"} if self.public else set()
        if actor.org_id is not None:
            if actor.org_id == self.org_id:
                found.add("own")
            if actor.org_id in self.counterparties:
                found.add("counterparty")
            if actor.org_id in self.pledgees:
                found.add("pledgee")
        return found


@dataclass(frozen=True, slots=True)
class Rule:
    """One way to be allowed: every condition given must hold.

    ``signed_in=False`` admits anonymous visitors (then nothing else is checked but the relation).
    ``staff``, ``org_roles`` and ``org_types`` are alternatives within each (empty: any).
    ``active``: the organisation must be approved. ``relations``: how the actor's organisation
    must stand to the resource (``("any",)``: no resource is needed). ``jurisdiction``:
    ``"required"`` — the user must hold one and the resource's division must lie within it;
    ``"limits"`` — a user who holds one acts only within it, a user without one is not limited.
    """

    signed_in: bool = True
    staff: tuple[str, ...] = ()
    org_roles: tuple[str, ...] = ()
    org_types: tuple[str, ...] = ()
    active: bool = False
    relations: tuple[Relation, ...] = ("any",)
    jurisdiction: JurisdictionUse = "ignored"
    # The level of the user's jurisdiction (``division_level``): a village caseworker holds a
    # 12-digit code, a township's 9 digits, a county's 6 ... Empty: any level, or none.
    levels: tuple[str, ...] = ()

    def matches(self, actor: Actor, resource: Resource | None, *, ignore_active: bool = False,
                ignore_resource: bool = False) -> bool:
        if self.signed_in and not actor.is_authenticated:
            return False
        if self.signed_in:
            if self.staff and actor.staff_role not in self.staff:
                return False
            if self.org_roles and actor.org_role not in self.org_roles:
                return False
            if self.org_types and actor.org_type not in self.org_types:
                return False
            if self.active and not ignore_active and not actor.org_active:
                return False
            if self.levels and division_level(actor.jurisdiction) not in self.levels:
                return False
        if ignore_resource:
            return True
        if "any" not in self.relations and (
                resource is None or not resource.relations(actor) & set(self.relations)):
            return False
        return self._jurisdiction_holds(actor, resource)

    def _jurisdiction_holds(self, actor: Actor, resource: Resource | None) -> bool:
        if self.jurisdiction == "ignored" or (self.jurisdiction == "limits" and not actor.jurisdiction):
            return True
        if not actor.jurisdiction:
            return False
        return resource is not None and within(actor.jurisdiction, resource.division)

    def describe(self) -> str:
        """One line for docs/permissions.md."""
        if not self.signed_in:
            who = "anyone"
        else:
            parts = []
            if self.staff:
                parts.append("staff " + "/".join(self.staff))
            if self.org_roles:
                parts.append("org " + "/".join(self.org_roles))
            if self.org_types:
                parts.append("of " + "/".join(self.org_types))
            who = ", ".join(parts) or "any signed-in user"
            if self.active:
                who += ", organisation approved"
        if self.levels:
            who += ", jurisdiction of level " + "/".join(self.levels)
        if "any" not in self.relations:
            who += "; resource: " + " or ".join(self.relations)
        if self.jurisdiction == "required":
            who += "; resource within the user's jurisdiction"
        elif self.jurisdiction == "limits":
            who += "; within the user's jurisdiction, if they hold one"
        return who


# Rules used by many actions.
ANYONE = Rule(signed_in=False)
SIGNED_IN = Rule()
ACTIVE_MEMBER = Rule(active=True)
STAFF = Rule(staff=STAFF_ROLES)
OPERATOR = Rule(staff=("operator",))


def staff(*roles: str) -> Rule:
    return Rule(staff=roles)


@dataclass(frozen=True, slots=True)
class Action:
    """An action and who may do it. ``denied`` is the (English, translated) refusal."""

    name: str
    rules: tuple[Rule, ...]
    description: str = ""
    denied: str = N_("You may not do this.")
    capability: str = field(default="", compare=False)


def rules_need_active(action: Action) -> bool:
    signed = [r for r in action.rules if r.signed_in]
    return bool(signed) and all(r.active for r in signed) and len(signed) == len(action.rules)


class UnknownAction(LookupError):
    """An action no manifest declares (a programming error, caught by the tests)."""


@lru_cache(maxsize=1)
def actions() -> dict[str, Action]:
    """Every declared action, by name, read from the manifests (core looks the list up by name)."""
    capabilities = importlib.import_module("qianshu.capabilities")
    return dict(capabilities.declared_actions())


def action(name: str) -> Action:
    try:
        return actions()[name]
    except KeyError:
        raise UnknownAction(f"no manifest declares the action {name!r}") from None


def allows(actor: Actor | None, name: str, resource: Resource | None = None) -> bool:
    """Whether ``actor`` may do ``name`` (to ``resource``): what pages ask before showing a control."""
    if actor is None:
        return False
    return any(rule.matches(actor, resource) for rule in action(name).rules)


def held_back(actor: Actor | None) -> str | None:
    """The status of a signed-in user's organisation when the policy holds them back for it (it is
    not approved: every rule for approved organisations refuses them), else ``None``. Pages say so
    instead of offering what would be refused."""
    if actor is None or actor.user_id is None or actor.org_status is None or actor.org_active:
        return None
    return actor.org_status


def org_roles_for(org_type: str | None) -> tuple[str, ...]:
    """The organisation roles that mean something in an organisation of ``org_type``: a role no
    rule names (``member``) everywhere, a role that rules name where one of them admits the type
    (``monitoring_admin``: a government organisation's)."""
    naming = [rule for declared in actions().values() for rule in declared.rules if rule.org_roles]
    return tuple(role for role in ORG_ROLES
                 if not any(role in rule.org_roles for rule in naming)
                 or any(role in rule.org_roles and (not rule.org_types or org_type in rule.org_types)
                        for rule in naming))


def require(actor: Actor, name: str, resource: Resource | None = None, *,
            hidden: QianshuError | None = None) -> None:
    """Refuse unless ``actor`` may do ``name``: not signed in → 401; an organisation that is not
    approved → 403 saying so; otherwise → 403 with the action's refusal. With ``hidden`` (usually a
    ``NotFound``), an actor refused only for how they stand to the resource gets that error
    instead: a resource of another organisation is not admitted to exist."""
    declared = action(name)
    if any(rule.matches(actor, resource) for rule in declared.rules):
        return
    if not actor.is_authenticated:
        raise NotAuthenticated("Please sign in first.")
    if not actor.org_active and (rules_need_active(declared) or any(
            r.active and r.matches(actor, resource, ignore_active=True) for r in declared.rules)):
        raise PermissionDenied("Your organisation is not approved (or is suspended).")
    if hidden is not None and any(r.matches(actor, resource, ignore_resource=True) for r in declared.rules):
        raise hidden
    raise PermissionDenied(declared.denied)


def check_declarations(declared: Iterable[Action]) -> list[str]:
    """Mistakes in declarations: unknown roles, organisation types or relations, no rules."""
    problems = []
    for act in declared:
        if not act.rules:
            problems.append(f"{act.capability}: action {act.name!r} has no rule")
        for rule in act.rules:
            for role in rule.staff:
                if role not in STAFF_ROLES:
                    problems.append(f"{act.capability}: action {act.name!r} names unknown staff role {role!r}")
            for role in rule.org_roles:
                if role not in ORG_ROLES:
                    problems.append(f"{act.capability}: action {act.name!r} names unknown role {role!r}")
            for org_type in rule.org_types:
                if org_type not in ORG_TYPES:
                    problems.append(f"{act.capability}: action {act.name!r} names unknown organisation type "
                                    f"{org_type!r}")
            for level in rule.levels:
                if level not in DIVISION_LEVELS:
                    problems.append(f"{act.capability}: action {act.name!r} names unknown level {level!r}")
            for relation in rule.relations:
                if relation != "any" and relation not in RELATIONS:
                    problems.append(f"{act.capability}: action {act.name!r} names unknown relation {relation!r}")
    return problems


# --- jurisdictions: GB/T 2260 divisions and NBS statistical codes ------------------------------

def division_prefix(code: str | None) -> str | None:
    """The digits every division inside ``code`` starts with, or None for a malformed code.

    Province ``520000`` → ``52``; prefecture ``520100`` → ``5201``; county ``520102`` →
    ``520102``; township (9 digits) and village (12 digits) codes are their own prefix.
    """
    if not code or not code.isascii() or not code.isdigit() or len(code) not in (6, 9, 12):
        return None
    if len(code) > 6:
        return code
    if code[2:] == "0000":
        return code[:2]
    if code[4:] == "00":
        return code[:4]
    return code


DIVISION_LEVELS = ("province", "prefecture", "county", "township", "village")


def division_level(code: str | None) -> str | None:
    """``province``, ``prefecture``, ``county``, ``township`` (9 digits) or ``village`` (12
    digits); None for no code or a malformed one."""
    prefix = division_prefix(code)
    if prefix is None:
        return None
    return {2: "province", 4: "prefecture", 6: "county", 9: "township", 12: "village"}[len(prefix)]


def within(jurisdiction: str | None, division_code: str | None) -> bool:
    """Whether the division ``division_code`` lies inside ``jurisdiction`` (or is it)."""
    prefix = division_prefix(jurisdiction)
    inner = division_prefix(division_code)
    return prefix is not None and inner is not None and division_code is not None and (
        division_code.startswith(prefix) and len(inner) >= len(prefix))


# --- the table of docs/permissions.md ----------------------------------------------------------

DOC_HEADER = """# Permissions

Generated from the capabilities' declarations by `python -m qianshu.core.policy > docs/permissions.md`;
`tests/test_permissions_doc.py` fails when this page and the declarations differ. How the policy
works, and how a capability declares its actions: `docs/architecture.md`, "One permission policy".

Roles: `admin`, `member`, `monitoring_admin` (of an organisation); exchange staff `operator`, `reviewer`, `auditor`.
Organisation types: {types}. Relations to the resource: `own` (the actor's organisation owns it),
`counterparty`, `pledgee`, `public`. A jurisdiction is a GB/T 2260 code (province, prefecture,
county) or a 9-digit township or 12-digit village code held by a user.

An action is allowed when one of its rules holds (rules are separated by "or").
"""


def document(declared: Iterable[Action]) -> str:
    """docs/permissions.md: every action, by capability, with who may do it."""
    lines = [DOC_HEADER.format(types=", ".join(f"`{t}`" for t in ORG_TYPES))]
    capability = None
    for act in declared:
        if act.capability != capability:
            capability = act.capability
            lines += [f"\n## {capability}\n", "| action | what | who may |", "|---|---|---|"]
        who = " **or** ".join(rule.describe() for rule in act.rules)
        lines.append(f"| `{act.name}` | {act.description} | {who} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - writes docs/permissions.md
    print(document(actions().values()), end="")
