"""Catalogue test helpers: issued registrations and listed products in a few lines."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from qianshu.catalog import service
from qianshu.catalog.models import Listing
from qianshu.catalog.schemas import ListingIn, PlanIn
from qianshu.core.actor import Actor
from qianshu.core.timeutil import utcnow
from qianshu.registry.models import Registration
from tests.factories import Factories

_numbers = itertools.count(1)


@pytest.fixture
def merchant(make: Factories) -> Actor:
    return make.actor(make.user())


@pytest.fixture
def operator(make: Factories) -> Actor:
    return make.actor(make.operator())


@pytest.fixture
def buyer(make: Factories) -> Actor:
    return make.actor(make.user(organisation=make.org(org_type="buyer")))


def make_registration(db: Session, holder: Actor, **kwargs: Any) -> Registration:
    n = next(_numbers)
    values: dict[str, Any] = {
        "holder_org_id": holder.org_id,
        "status": "issued",
        "number": f"QS-DR-2026-{n:06d}",
        "title_zh": f"测试数据{n}",
        "title_en": f"Test data {n}",
        "description_zh": "",
        "description_en": "",
        "industry_code": "G54",
        "division_code": "520102",
        "update_frequency": "daily",
        "classification": "general",
        "personal_info": "none",
        "row_count": 1000,
        "column_count": 5,
        "issued_at": utcnow(),
    }
    values.update(kwargs)
    reg = Registration(**values)
    db.add(reg)
    db.flush()
    return reg


def make_listed(db: Session, holder: Actor, operator: Actor, *, plans: list[PlanIn] | None = None,
                status: str = "listed", tags: list[str] | None = None, data_type: str = "table",
                **reg_kwargs: Any) -> Listing:
    reg = make_registration(db, holder, **reg_kwargs)
    listing = service.create_listing(
        db, holder, ListingIn(registration_id=reg.id, tags=tags or [], data_type=data_type)
    )  # type: ignore[arg-type]
    for plan in plans or [PlanIn(kind="one_time", price="1200", delivery_modes=["download"])]:
        service.add_plan(db, holder, listing.id, plan)
    if status in ("pending", "listed"):
        service.submit_listing(db, holder, listing.id)
    if status == "listed":
        service.review_listing(db, operator, listing.id, "approve")
    db.flush()
    return listing


@pytest.fixture
def registration(db: Session) -> Callable[..., Registration]:
    def _make(holder: Actor, **kwargs: Any) -> Registration:
        return make_registration(db, holder, **kwargs)

    return _make


@pytest.fixture
def listed(db: Session, operator: Actor) -> Callable[..., Listing]:
    """``listed(merchant, title_zh=..., ..., plans=[PlanIn...], status="listed")``."""

    def _make(holder: Actor, **kwargs: Any) -> Listing:
        return make_listed(db, holder, operator, **kwargs)

    return _make
