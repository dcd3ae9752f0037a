"""Fixtures of the finance tests: a certificate issued through the real registry pipeline, an
approved bank (and a second one), the asset's holder and the exchange's operator."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from qianshu.core.signing import load_signer
from qianshu.registry import review, schemas, service
from tests.factories import Factories
from tests.registry.conftest import gb_csv  # noqa: F401 - a fixture of these tests too
from tests.registry.helpers import DECLARATION, process

__all__ = ["Asset", "issue_asset"]


@dataclass
class Asset:
    number: str
    registration_id: int
    holder: Any
    bank: Any
    other_bank: Any
    operator: Any
    stranger: Any  # a merchant that does not hold the asset


def issue_asset(database: Any, db: Any, settings: Any, make: Factories, path: Path) -> Asset:
    holder = make.user(organisation=make.org(org_type="data_merchant"))
    reviewer, operator = make.operator(staff_role="reviewer"), make.operator(staff_role="operator")
    bank = make.user(organisation=make.org(org_type="bank", name="贵阳农商银行"))
    other_bank = make.user(organisation=make.org(org_type="bank", name="光大银行贵阳分行"))
    stranger = make.user(organisation=make.org(org_type="data_merchant"))
    m = make.actor(holder)
    reg = process(database, db, settings, m, [path])
    service.update_declaration(db, m, reg.id, DECLARATION)
    review.submit(db, m, reg.id)
    review.approve(db, make.actor(reviewer), settings, reg.id, schemas.Approval())
    cert = review.issue_certificate(db, make.actor(operator), settings, load_signer(settings.key_dir), reg.id,
                                    now=reg.notice_ends_at + dt.timedelta(seconds=1))
    db.commit()
    return Asset(cert.number, reg.id, holder, bank, other_bank, operator, stranger)


@pytest.fixture
def asset(database, db, settings, make, gb_csv) -> Asset:  # type: ignore[no-untyped-def]  # noqa: F811
    return issue_asset(database, db, settings, make, gb_csv)
