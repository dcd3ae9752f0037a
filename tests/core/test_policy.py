"""The permission policy's engine: rules, refusals, relations and jurisdictions (core/policy.py)."""

from __future__ import annotations

import pytest

from qianshu import capabilities
from qianshu.core import policy
from qianshu.core.actor import ANONYMOUS, SYSTEM, Actor
from qianshu.core.errors import InvalidInput, NotAuthenticated, NotFound, PermissionDenied
from qianshu.core.identifiers import validate_jurisdiction
from qianshu.core.policy import Action, Resource, Rule, within

CASES = [
    ("520000", "520000", True), ("520000", "520100", True), ("520000", "520102", True),
    ("520000", "520102001", True), ("520000", "520102001001", True),
    ("520100", "520102", True), ("520100", "520100", True), ("520100", "520102001", True),
    ("520100", "520000", False), ("520100", "520200", False), ("520100", "520201", False),
    ("520102", "520102", True), ("520102", "520102001", True), ("520102", "520102001002", True),
    ("520102", "520100", False), ("520102", "520103", False), ("520102", "520000", False),
    ("520102001", "520102001", True), ("520102001", "520102001001", True),
    ("520102001", "520102002", False), ("520102001", "520102", False), ("520102001", "520102002001", False),
    ("520102001001", "520102001001", True), ("520102001001", "520102001002", False),
    ("520102001001", "520102001", False),
    ("110000", "110101", True), ("520000", "530102", False), ("530000", "520102", False),
    (None, "520102", False), ("", "520102", False), ("520100", None, False), ("520100", "", False),
    ("5201", "520102", False), ("520100", "5201", False), ("52010x", "520102", False),
    ("520100", "5201020010", False),
]


@pytest.mark.parametrize(("jurisdiction", "code", "expected"), CASES)
def test_within_decides_containment_at_every_level(jurisdiction: str | None, code: str | None,
                                                   expected: bool) -> None:
    assert within(jurisdiction, code) is expected


@pytest.mark.parametrize("code", ["520000", "520100", "520102", "520102001", "520102001001", "110101"])
def test_a_known_jurisdiction_is_accepted(code: str) -> None:
    assert validate_jurisdiction(code) == code


@pytest.mark.parametrize(("code", "zh", "en"), [
    ("5201", "必须为 6 位、9 位或 12 位的区划代码", "must be a division code of 6, 9 or 12 digits"),
    ("52010200", "必须为 6 位、9 位或 12 位的区划代码", "must be a division code of 6, 9 or 12 digits"),
    ("520199", "不是有效的行政区划代码", "is not a known division code"),
    ("520199001", "不在已知的县级行政区划之内", "is not within a known county-level division"),
    ("520100001", "不在已知的县级行政区划之内", "is not within a known county-level division"),
    ("520102000", "不是有效的行政区划代码", "is not a known division code"),
    ("520102001000", "不是有效的行政区划代码", "is not a known division code"),
])
def test_an_unknown_jurisdiction_is_refused_in_both_languages(code: str, zh: str, en: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_jurisdiction(code)
    assert zh in caught.value.render("zh")
    assert en in caught.value.render("en")
    assert caught.value.field == "jurisdiction"


MERCHANT = Actor(user_id=1, org_id=10, org_role="member", org_status="approved", org_type="data_merchant")
PENDING = Actor(user_id=2, org_id=11, org_role="admin", org_status="pending", org_type="data_merchant")
BUYER = Actor(user_id=3, org_id=12, org_role="admin", org_status="approved", org_type="buyer")
REVIEWER = Actor(user_id=4, org_id=1, org_role="member", staff_role="reviewer", org_status="approved",
                 org_type="exchange_operator")
CASEWORKER = Actor(user_id=5, org_id=13, org_role="member", org_status="approved", org_type="government",
                   jurisdiction="520102")


def test_require_refuses_with_the_domain_errors_and_allows_agrees() -> None:
    policy.require(MERCHANT, "registration.create")
    assert policy.allows(MERCHANT, "registration.create")
    with pytest.raises(NotAuthenticated):
        policy.require(ANONYMOUS, "registration.create")
    with pytest.raises(PermissionDenied) as pending:
        policy.require(PENDING, "registration.create")
    assert pending.value.render("en") == "Your organisation is not approved (or is suspended)."
    with pytest.raises(PermissionDenied) as buyer:
        policy.require(BUYER, "registration.create")
    assert buyer.value.render("zh") != buyer.value.render("en")  # the action's own refusal, translated
    assert "data merchants" in buyer.value.render("en")
    assert not any(policy.allows(a, "registration.create") for a in (ANONYMOUS, PENDING, BUYER, REVIEWER, None))
    policy.require(SYSTEM, "registration.certify")  # the system acts as an operator


def test_relations_and_a_hidden_resource() -> None:
    own, other = Resource(org_id=10), Resource(org_id=99)
    assert policy.allows(MERCHANT, "registration.edit", own)
    assert policy.allows(MERCHANT, "registration.edit", Resource(org_id=99, counterparties=(10,)))
    assert not policy.allows(MERCHANT, "registration.edit", other)
    with pytest.raises(NotFound):
        policy.require(MERCHANT, "registration.edit", other, hidden=NotFound("Not found."))
    with pytest.raises(PermissionDenied):  # not approved is said as such, not hidden
        policy.require(PENDING, "registration.edit", Resource(org_id=11), hidden=NotFound("Not found."))
    assert policy.allows(ANONYMOUS, "registration.read", Resource(org_id=99, public=True))
    assert not policy.allows(ANONYMOUS, "registration.read", Resource(org_id=99))
    assert policy.allows(REVIEWER, "registration.read", Resource(org_id=99))


def test_a_jurisdiction_rule_admits_inside_and_refuses_outside() -> None:
    assert policy.allows(CASEWORKER, "registration.read", Resource(org_id=99, division="520102"))
    assert not policy.allows(CASEWORKER, "registration.read", Resource(org_id=99, division="520103"))
    assert not policy.allows(CASEWORKER, "registration.read", Resource(org_id=99))  # no region: outside
    without = Actor(user_id=6, org_id=13, org_role="member", org_status="approved", org_type="government")
    assert not policy.allows(without, "registration.read", Resource(org_id=99, division="520102"))


def test_limits_restricts_only_users_who_hold_a_jurisdiction() -> None:
    rule = Rule(org_types=("government",), jurisdiction="limits")
    without = Actor(user_id=6, org_id=13, org_role="member", org_status="approved", org_type="government")
    assert rule.matches(without, Resource(division="520301"))
    assert rule.matches(CASEWORKER, Resource(division="520102"))
    assert not rule.matches(CASEWORKER, Resource(division="520301"))


def test_an_undeclared_action_is_a_programming_error() -> None:
    with pytest.raises(policy.UnknownAction, match=r"registration\.fly"):
        policy.allows(MERCHANT, "registration.fly")


def test_every_action_is_declared_once_with_known_roles_types_and_relations() -> None:
    declared = capabilities.declared_actions()
    assert policy.check_declarations(declared.values()) == []
    assert {a.capability for a in declared.values()} == {"accounts", "translog", "registry", "catalog", "ledger",
                                                         "exchange", "delivery", "finance", "vouchers", "sharing",
                                                         "monitoring"}
    bad = [Action("x.y", (Rule(staff=("janitor",), org_types=("bakery",), relations=("cousin",)),))]  # type: ignore[arg-type]
    problems = policy.check_declarations(bad)
    assert any("janitor" in p for p in problems)
    assert any("bakery" in p for p in problems)
    assert any("cousin" in p for p in problems)


def test_organisation_types_cover_what_is_coming_and_keep_the_existing_values() -> None:
    assert set(policy.ORG_TYPES) >= {"exchange_operator", "data_merchant", "buyer", "service_provider", "bank",
                                     "government", "voucher_administrator", "compute_provider",
                                     "data_bureau"}
