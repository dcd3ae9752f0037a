"""Migration 0039 on a database at 0038: an asset transfer by forced sale recorded before it gets the
bank that sold (``pledgee_org_id``, from finance's sale) on its order and contract, so that bank may
read it; no other trade names a bank. SQLite here; PostgreSQL with QIANSHU_TEST_DATABASE_URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, inspect, select

from qianshu.accounts.service import actor_for
from qianshu.core.db import Database
from qianshu.core.migrate import alembic_config, check, upgrade
from qianshu.core.policy import allows
from qianshu.core.settings import Settings
from qianshu.core.signing import load_signer
from qianshu.exchange.models import Contract, Order
from qianshu.exchange.permissions import trade
from qianshu.finance import sale, schemas, service
from qianshu.ledger import service as ledger
from tests.factories import Factories
from tests.finance.conftest import issue_asset
from tests.registry.conftest import gb_csv  # noqa: F401 - the fixture of the asset's data file


@pytest.mark.slow
def test_transfers_recorded_before_0039_name_the_bank_that_sold(isolated_database: Database, settings: Settings,
                                                                 gb_csv: Path) -> None:  # noqa: F811
    signer = load_signer(settings.key_dir)
    with isolated_database.unit_of_work() as db:
        asset = issue_asset(isolated_database, db, settings, Factories(db), gb_csv)
        bank, holder, buyer, operator, other_bank = (
            actor_for(u, via="api", ip=None)
            for u in (asset.bank, asset.holder, asset.stranger, asset.operator, asset.other_bank))
        pledge = service.create_pledge(db, bank, settings, signer, schemas.PledgeIn(
            certificate_number=asset.number, pledgor_org_id=asset.holder.organisation.id, secured_fen=400_000_000,
            appraised_fen=2_000_000_000, interest_bp=400, term_months=12))
        service.confirm_pledge(db, holder, signer, pledge.id)
        offered = sale.list_forced_sale(db, bank, signer, pledge.id, 500_000_000, "逾期 90 天")
        ledger.deposit(db, operator, org_id=buyer.org_id or 0, amount_fen=600_000_000, bank_reference="BACKFILL")
        contract_id = sale.buy_forced_sale(db, buyer, settings, signer, offered.id).contract_id
    url = isolated_database.url
    command.downgrade(alembic_config(url), "0038_sharing_appeal_parts")
    isolated_database.engine.dispose()
    for table in ("exchange_orders", "exchange_contracts"):
        assert "pledgee_org_id" not in {c["name"] for c in inspect(isolated_database.engine).get_columns(table)}
    isolated_database.engine.dispose()
    upgrade(url)
    check(url)
    isolated_database.engine.dispose()
    with isolated_database.unit_of_work(write=False) as db:
        contract = db.get_one(Contract, contract_id)
        assert contract.pledgee_org_id == contract.order.pledgee_org_id == bank.org_id
        assert allows(bank, "trade.read", trade(contract))
        assert not allows(other_bank, "trade.read", trade(contract))
        for model in (Order, Contract):
            assert db.scalar(select(func.count()).select_from(model).where(model.pledgee_org_id.is_not(None))) == 1
