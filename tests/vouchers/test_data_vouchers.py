"""A data voucher pays part of an exchange contract, through the exchange's payment: the budget
pays the voucher part, the exchange escrows the whole price; a contract is subsidised once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerAccount
from qianshu.vouchers import data_vouchers, schemas, service
from qianshu.vouchers.models import Programme, Voucher
from tests.catalog.conftest import buyer, listed, merchant, operator, registration  # noqa: F401 - fixtures
from tests.exchange.conftest import fund, order, signed  # noqa: F401 - fixtures
from tests.vouchers.conftest import programme_in


def test_a_data_voucher_pays_part_of_a_contract(db, make, buyer: Actor, merchant: Actor,  # noqa: F811
                                                 signed: Callable[..., Any], fund: Callable[..., None]) -> None:  # noqa: F811
    admin = make.actor(make.user(organisation=make.org(org_type="voucher_administrator")))
    fund(admin, 10_000_000_00)
    programme = service.create_programme(db, admin, programme_in(
        [merchant.org_id], kind="data", eligible_purposes=["data_product"], ratio_bp=5000,
        face_values_fen=[10_000_00], cap_contract_fen=10_000_00, cap_company_year_fen=10_000_00))
    application = service.apply(db, buyer, programme.id, schemas.ApplicationIn(
        purpose="data_product", company_size="small", planned_use="购买交通数据产品", requested_fen=10_000_00))
    service.decide_application(db, admin, application.id, schemas.DecisionIn(approve=True))
    voucher = db.scalars(select(Voucher).where(Voucher.holder_org_id == buyer.org_id)).one()
    contract = signed()
    fund(buyer, contract.price_fen)
    wallet = ledger.balance(db, ledger.wallet_of(db, buyer.org_id or 0))
    paid = data_vouchers.pay_contract(db, buyer, programme.id, schemas.ContractPaymentIn(
        contract_id=contract.id, voucher_ids=[voucher.id]))
    part = min(contract.price_fen // 2, 10_000_00)
    assert paid.voucher_fen == part
    assert contract.payment_status == "escrowed"
    assert ledger.balance(db, ledger.wallet_of(db, buyer.org_id or 0)) == wallet - (contract.price_fen - part)
    assert db.get(Programme, programme.id).reimbursed_fen == part
    assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0
    with pytest.raises(Conflict) as twice:  # the same contract again (by this or another programme)
        data_vouchers.pay_contract(db, buyer, programme.id, schemas.ContractPaymentIn(
            contract_id=contract.id, voucher_ids=[voucher.id]))
    assert twice.value.code == "contract_already_subsidised"
