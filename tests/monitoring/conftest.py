"""Caseworkers of two counties of Qiandongnan (and of a township and a village of the first), a
province user, and cases opened as a monitoring run's warnings would open them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session

from qianshu.accounts.models import User
from qianshu.core.actor import Actor
from qianshu.core.identifiers import resident_id_check_char
from qianshu.monitoring import case_opening
from qianshu.monitoring.models import Case
from tests.factories import Factories

COUNTY = "522636"
OTHER_COUNTY = "522635"
TOWNSHIP = COUNTY + "001"
VILLAGE = TOWNSHIP + "001"
OTHER_VILLAGE = TOWNSHIP + "002"  # same township, another village
FAR_VILLAGE = OTHER_COUNTY + "001001"


def resident_id(county: str, n: int) -> str:
    first17 = f"{county}19800101{n % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def flag(household: str, village: str, n: int = 1,
         reasons: tuple[str, ...] = ("income_below_threshold",)) -> dict[str, Any]:
    return {"household_id": household, "division_code": village, "proposed_type": "marginal",
            "reasons": list(reasons), "head_name": "王大山", "head_resident_id": resident_id(village[:6], n),
            "members": 3, "traces": [{"reason": r, "source_feed": "agriculture_income", "source_key": household,
                                      "value": 500_000} for r in reasons]}


@dataclass
class World:
    county: Actor
    township: Actor
    village: Actor
    other_village: Actor
    other_county: Actor
    province: Actor
    merchant: Actor
    users: dict[str, User]

    def case(self, db: Session, household: str = "H1", village: str = VILLAGE) -> Case:
        case_opening.open_cases_from_flags(db, [flag(household, village)], "test-run")
        db.flush()
        return db.query(Case).filter(Case.open_household == household).one()


def make_world(db: Session, make: Factories) -> World:
    gov = make.org(org_type="government", division_code=COUNTY)
    users = {}
    for key, code in (("county", COUNTY), ("township", TOWNSHIP), ("village", VILLAGE),
                      ("other_village", OTHER_VILLAGE),
                      ("other_county", OTHER_COUNTY), ("province", "520000")):
        users[key] = make.user(organisation=gov, org_role="member", jurisdiction=code, email=f"{key}-{gov.id}@gov.cn")
    users["merchant"] = make.user()
    actors = {k: make.actor(u) for k, u in users.items()}
    return World(**actors, users=users)


@pytest.fixture
def world(db: Session, make: Factories) -> World:
    return make_world(db, make)


AUTH = [{"digest": "a" * 64, "name": "授权书.pdf", "kind": "authorisation", "size": 10}]
