"""Fixtures of the sharing tests: two government departments, the big-data bureau, an outsider
(a data merchant) and a resource of each sharing class published by the first department."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from qianshu.sharing import schemas, service
from tests.factories import Factories

FIELDS = [schemas.FieldIn(name="resident_id", type="string", meaning_zh="公民身份号码", meaning_en="Resident ID"),
          schemas.FieldIn(name="assistance", type="code", meaning_zh="救助类别", meaning_en="Assistance kind"),
          schemas.FieldIn(name="monthly_amount_fen", type="integer", meaning_zh="月救助金额（分）")]
START, END = dt.date(2026, 1, 1), dt.date(2026, 12, 31)


@dataclass
class World:
    owner: Any  # users
    other: Any
    bureau: Any
    merchant: Any
    conditional: int  # resource ids
    unconditional: int
    not_shared: int


def resource_in(code: str, sharing_class: str, conditions: str = "") -> schemas.ResourceIn:
    return schemas.ResourceIn(code=code, name_zh=f"资源 {code}", name_en=f"Resource {code}", fields=FIELDS,
                              update_frequency="monthly", legal_basis="《政务信息资源共享管理暂行办法》",
                              sharing_class=sharing_class, conditions=conditions)  # type: ignore[arg-type]


def build_world(db: Any, make: Factories) -> World:
    owner = make.user(organisation=make.org(org_type="government", name="贵州省民政厅"), org_role="admin")
    other = make.user(organisation=make.org(org_type="government", name="贵州省农业农村厅"), org_role="admin")
    bureau = make.user(organisation=make.org(org_type="data_bureau", name="贵州省大数据发展管理局"), org_role="admin")
    merchant = make.user(organisation=make.org(org_type="data_merchant"))
    actor = make.actor(owner)
    ids = [service.publish_resource(db, actor, resource_in(code, cls, cond)).id for code, cls, cond in (
        ("civil_affairs", "conditional", "仅用于防返贫监测"), ("open_list", "unconditional", ""),
        ("secret_list", "not_shared", ""))]
    db.flush()
    return World(owner, other, bureau, merchant, *ids)


@pytest.fixture
def world(db: Any, make: Factories) -> World:
    return build_world(db, make)


def ask(db: Any, make: Factories, user: Any, settings: Any, resource_id: int, fields: list[str] | None = None,
        access: str = "feed") -> Any:
    return service.request_data(db, make.actor(user), settings, schemas.RequestIn(
        resource_id=resource_id, purpose="防返贫监测", fields=fields or ["resident_id", "assistance"],
        period_start=START, period_end=END, access_type=access))  # type: ignore[arg-type]
