"""Fixtures of the voucher tests: an administrator with money, two compute providers with offerings,
companies with money, and a programme running today."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from qianshu.ledger import service as ledger
from qianshu.vouchers import schemas, service
from qianshu.vouchers.service import today
from tests.factories import Factories

EVIDENCE = base64.b64encode(b"node,card_hours\ngpu-01,100\n").decode()


@dataclass
class World:
    admin: Any  # users
    provider: Any
    other_provider: Any
    company: Any
    other_company: Any
    operator: Any
    offering_id: int
    other_offering_id: int
    programme_id: int
    make: Factories

    def actor(self, user: Any) -> Any:
        return self.make.actor(user)


def programme_in(provider_ids: list[int], **overrides: Any) -> schemas.ProgrammeIn:
    day = today()
    values: dict[str, Any] = {
        "name_zh": "贵州省算力券（测试）", "name_en": "Guizhou compute vouchers (test)", "kind": "compute",
        "budget_fen": 10_000_000_00, "starts_on": day - timedelta(days=10), "ends_on": day + timedelta(days=120),
        "ratio_bp": 3000, "cap_company_year_fen": 2_000_000_00, "cap_contract_fen": 500_000_00,
        "face_values_fen": [100_000_00, 50_000_00, 10_000_00], "voucher_valid_days": 90, "max_term_months": 12,
        "provider_org_ids": provider_ids}
    values.update(overrides)
    return schemas.ProgrammeIn(**values)


def offering_in(**overrides: Any) -> schemas.OfferingIn:
    values: dict[str, Any] = {
        "data_centre": "中国移动（贵州）贵安数据中心", "division_code": "520111", "accelerator": "Ascend 910B",
        "card_count": 512, "card_hours_per_month": 300_000, "price_fen_per_card_hour": 1_200,
        "service_kind": "training", "declared_tflops": 160_000, "precision": "FP16"}
    values.update(overrides)
    return schemas.OfferingIn(**values)


def build_world(db: Session, make: Factories) -> World:
    admin = make.user(organisation=make.org(org_type="voucher_administrator", name="贵州省算力券服务中心"))
    provider = make.user(organisation=make.org(org_type="compute_provider", name="中国移动贵州公司"))
    other_provider = make.user(organisation=make.org(org_type="compute_provider", name="华为云贵安"))
    company = make.user(organisation=make.org(org_type="data_merchant", name="贵阳智算科技有限公司"))
    other_company = make.user(organisation=make.org(org_type="buyer", name="遵义模型科技有限公司"))
    operator = make.operator(staff_role="operator")
    op = make.actor(operator)
    for user, amount in ((admin, 20_000_000_00), (company, 5_000_000_00), (other_company, 5_000_000_00)):
        ledger.deposit(db, op, org_id=user.org_id, amount_fen=amount, bank_reference=f"DEP-{user.org_id}")
    offering = service.publish_offering(db, make.actor(provider), offering_in())
    other = service.publish_offering(db, make.actor(other_provider), offering_in(
        data_centre="华为云贵安数据中心", accelerator="Ascend 910B", price_fen_per_card_hour=1_000))
    programme = service.create_programme(db, make.actor(admin), programme_in([provider.org_id, other_provider.org_id]))
    db.flush()
    return World(admin, provider, other_provider, company, other_company, operator, offering.id, other.id,
                 programme.id, make)


def issue(db: Session, world: World, company: Any, faces: list[int] | None = None) -> list[int]:
    """An approved application of ``company``: the ids of its new vouchers."""
    from qianshu.vouchers.models import Voucher

    application = service.apply(db, world.actor(company), world.programme_id, schemas.ApplicationIn(
        purpose="large_model_training", company_size="small", planned_use="训练交通行业大模型",
        requested_fen=100_000_00))
    service.decide_application(db, world.actor(world.admin), application.id,
                               schemas.DecisionIn(approve=True, face_values_fen=faces or [100_000_00]))
    return [v.id for v in db.query(Voucher).filter(Voucher.application_id == application.id).order_by(Voucher.id)]


@pytest.fixture
def world(db: Session, make: Factories) -> World:
    return build_world(db, make)
