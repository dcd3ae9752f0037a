"""Test data factories (factory_boy), bound to each test's rolled-back session."""

from __future__ import annotations

import itertools
from typing import Any

import factory
from sqlalchemy.orm import Session

from qianshu.accounts.models import Organisation, User
from qianshu.accounts.passwords import hash_password
from qianshu.accounts.service import staff_org_role
from qianshu.core.actor import Actor
from qianshu.core.identifiers import USCC_ALPHABET, uscc_check_char

_counter = itertools.count(1)
TEST_PASSWORD = "correct horse battery staple"
_HASH_CACHE: dict[str, str] = {}


def make_uscc(n: int | None = None) -> str:
    """A valid USCC: 91 (enterprise) + Guiyang division + an organisation code + check char."""
    n = next(_counter) if n is None else n
    body = "91520100"
    digits = ""
    for _ in range(9):
        n, rem = divmod(n, 31)
        digits = USCC_ALPHABET[rem] + digits
    first17 = body + digits
    return first17 + uscc_check_char(first17)


class OrganisationFactory(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        model = Organisation
        sqlalchemy_session_persistence = "flush"

    name = factory.Sequence(lambda n: f"测试数据科技有限公司{n}")
    name_en = factory.Sequence(lambda n: f"Test Data Tech Co. {n}")
    org_type = "data_merchant"
    uscc = factory.LazyFunction(make_uscc)
    division_code = "520102"
    contact_name = "张三"
    contact_email = factory.Sequence(lambda n: f"contact{n}@example.cn")
    contact_phone = "13800138000"
    status = "approved"


def _cached_hash(password: str) -> str:
    # argon2 is deliberately slow; one hash per password keeps the suite fast.
    if password not in _HASH_CACHE:
        _HASH_CACHE[password] = hash_password(password)
    return _HASH_CACHE[password]


class UserFactory(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        model = User
        sqlalchemy_session_persistence = "flush"

    organisation = factory.SubFactory(OrganisationFactory)
    email = factory.Sequence(lambda n: f"user{n}@example.cn")
    display_name = factory.Sequence(lambda n: f"用户{n}")
    password_hash = factory.LazyFunction(lambda: _cached_hash(TEST_PASSWORD))
    org_role = "admin"
    staff_role = None


class Factories:
    """``make.org(...)``, ``make.user(...)``, ``make.actor(user)`` inside a test."""

    def __init__(self, db: Session) -> None:
        self.db = db
        for f in (OrganisationFactory, UserFactory):
            f._meta.sqlalchemy_session = db

    def org(self, **kwargs: Any) -> Organisation:
        return OrganisationFactory(**kwargs)  # type: ignore[no-any-return]

    def user(self, **kwargs: Any) -> User:
        return UserFactory(**kwargs)  # type: ignore[no-any-return]

    def operator(self, **kwargs: Any) -> User:
        org = self.org(org_type="exchange_operator", name="黔数数据交易所")
        staff_role = kwargs.pop("staff_role", "operator")
        kwargs.setdefault("org_role", staff_org_role(staff_role))
        return self.user(organisation=org, staff_role=staff_role, **kwargs)

    def actor(self, user: User, via: str = "api") -> Actor:
        org = user.organisation
        return Actor(user_id=user.id, org_id=org.id, org_role=user.org_role, staff_role=user.staff_role,
                     org_status=org.status, org_type=org.org_type, ip="127.0.0.1", via=via,
                     display_name=user.display_name, jurisdiction=user.jurisdiction)
