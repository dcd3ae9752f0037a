"""Asset transfers by forced sale recorded before migration 0039. The migration, on a database at
0038, gives each the bank that sold (``pledgee_org_id``, from finance's sale) on its order and
contract, so that bank may read it; no other trade names a bank. ``qianshu exchange
backfill-transfer-leaves`` then gives each its public-log leaf, once however many runs at once.
SQLite here; PostgreSQL with QIANSHU_TEST_DATABASE_URL."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from alembic import command
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import func, inspect, select
from typer.testing import CliRunner

from qianshu.accounts.models import Organisation
from qianshu.accounts.service import actor_for
from qianshu.cli import app as cli_app
from qianshu.core.db import Database
from qianshu.core.migrate import alembic_config, check, upgrade
from qianshu.core.policy import allows
from qianshu.core.settings import Settings, get_settings
from qianshu.core.signing import load_signer
from qianshu.exchange import jobs, transfers
from qianshu.exchange.models import Contract, Order, TimelineEntry
from qianshu.exchange.permissions import trade
from qianshu.finance import sale, schemas, service
from qianshu.ledger import service as ledger
from qianshu.translog import service as log
from qianshu.translog.models import LogEntry
from qianshu.translog.verify import verify_log
from qianshu.web.app import create_app
from tests.data_folder import make_data_folder
from tests.exchange.test_concurrency import _race
from tests.factories import Factories
from tests.finance.conftest import issue_asset
from tests.registry.conftest import gb_csv, people_rows, write_csv  # noqa: F401 - gb_csv: a fixture
from tests.registry.helpers import sign_in


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


def _sold(database: Database, settings: Settings, path: Path) -> tuple[int, str]:
    """A forced sale bought at a fixed price, committed: (its contract's id, the holder's e-mail)."""
    signer = load_signer(settings.key_dir)
    with database.unit_of_work() as db:
        asset = issue_asset(database, db, settings, Factories(db), path)
        bank, holder, buyer, operator = (actor_for(u, via="api", ip=None)
                                         for u in (asset.bank, asset.holder, asset.stranger, asset.operator))
        pledge = service.create_pledge(db, bank, settings, signer, schemas.PledgeIn(
            certificate_number=asset.number, pledgor_org_id=asset.holder.organisation.id, secured_fen=400_000_000,
            appraised_fen=2_000_000_000, interest_bp=400, term_months=12))
        service.confirm_pledge(db, holder, signer, pledge.id)
        offered = sale.list_forced_sale(db, bank, signer, pledge.id, 500_000_000, "逾期 90 天")
        ledger.deposit(db, operator, org_id=buyer.org_id or 0, amount_fen=600_000_000,
                       bank_reference=f"BACKFILL-{asset.registration_id}")
        contract_id = sale.buy_forced_sale(db, buyer, settings, signer, offered.id).contract_id
        assert contract_id is not None
        return contract_id, asset.holder.email


def _sold_before_0039(database: Database, settings: Settings, path: Path, monkeypatch: pytest.MonkeyPatch
                      ) -> tuple[int, str]:
    """A forced sale closed as the code before migration 0039 closed it: no leaf of the contract's
    own, and an ``asset_transferred`` step that keeps no leaf index."""
    with monkeypatch.context() as before_0039:
        before_0039.setattr(transfers, "append_transfer_leaf", lambda *_args: None)
        contract_id, holder = _sold(database, settings, path)
    with database.unit_of_work() as db:
        step = db.scalars(select(TimelineEntry).where(TimelineEntry.contract_id == contract_id,
                                                      TimelineEntry.step == "asset_transferred")).one()
        step.detail = {k: v for k, v in step.detail.items() if k != "log_index"}
    return contract_id, holder


def _transfer_leaves(database: Database) -> dict[str, list[int]]:
    """Contract number → the indexes of its ``exchange.asset_transferred`` leaves."""
    found: dict[str, list[int]] = {}
    with database.unit_of_work(write=False) as db:
        for entry in db.scalars(select(LogEntry).order_by(LogEntry.index)):
            if entry.event_type == transfers.LEAF:
                found.setdefault(entry.document["payload"]["number"], []).append(entry.index)
    return found


@pytest.mark.slow
def test_transfers_recorded_before_0039_get_their_leaf_once_however_many_runs(
        isolated_database: Database, settings: Settings, gb_csv: Path, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two forced sales closed before 0039 and one after: two backfills at once append one leaf for
    each of the two (the one after keeps its own), a third run appends nothing, the log verifies
    with the signed tree heads, and the contract's page and PDF show the leaf."""
    files = [write_csv(tmp_path / f"居民{seed}.csv", people_rows(300, seed), encoding="gb18030") for seed in (2, 3)]
    old = [_sold_before_0039(isolated_database, settings, path, monkeypatch) for path in files]
    new_id, _holder = _sold(isolated_database, settings, gb_csv)
    with isolated_database.unit_of_work(write=False) as db:
        numbers = {contract_id: db.get_one(Contract, contract_id).number for contract_id in (*dict(old), new_id)}
        assert transfers.transfers_without_leaf(db) == [contract_id for contract_id, _ in old]
    assert set(_transfer_leaves(isolated_database)) == {numbers[new_id]}
    runs: list[list[transfers.LoggedTransfer]] = []
    done, errors = _race(2, lambda _i: runs.append(jobs.backfill_transfer_leaves(isolated_database, settings)))
    assert (done, errors) == (2, [])
    logged = sorted((t for run in runs for t in run), key=lambda t: t.contract_id)
    assert [(t.contract_id, t.number) for t in logged] == [(c, numbers[c]) for c, _ in old]  # once each
    leaves = _transfer_leaves(isolated_database)
    assert leaves == {**{t.number: [t.log_index] for t in logged}, numbers[new_id]: leaves[numbers[new_id]]}
    assert len(leaves[numbers[new_id]]) == 1
    # a third run, the operator's command: nothing to append, and it says so
    monkeypatch.setenv("QIANSHU_DATA_DIR", str(make_data_folder(tmp_path / "cli-data")))
    monkeypatch.setenv("QIANSHU_DATABASE_URL", isolated_database.url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["exchange", "backfill-transfer-leaves", "--json"])
        assert (result.exit_code, json.loads(result.output)) == (0, {"appended": []}), result.output
        result = CliRunner().invoke(cli_app, ["exchange", "backfill-transfer-leaves"])
        assert "所有资产转让均已记入公共日志" in result.output
        assert "every asset transfer has its leaf" in result.output
    finally:
        get_settings.cache_clear()
    assert _transfer_leaves(isolated_database) == leaves
    with isolated_database.unit_of_work(write=False) as db:
        report = verify_log(db, load_signer(settings.key_dir).public_key())
        assert report.ok, report.problems
        assert log.latest_tree_head(db).tree_size > max(t.log_index for t in logged)  # type: ignore[union-attr]
        contract = db.get_one(Contract, logged[0].contract_id)
        entry = log.get_leaf(db, logged[0].log_index)
        payload = entry.document["payload"]
        assert payload == {
            "number": contract.number, "text_sha256": contract.text_sha256, "version": "1",
            "buyer_uscc": contract.document["buyer"]["uscc"], "seller_uscc": contract.document["seller"]["uscc"],
            "pledgee_uscc": db.get_one(Organisation, contract.pledgee_org_id).uscc,
            "registration_number": contract.document["product"]["registration_number"],
            "cause": "forced_sale", "cause_id": str(contract.document["cause"]["id"])}  # as closing writes it
        steps = [e.step for e in db.scalars(select(TimelineEntry).where(TimelineEntry.contract_id == contract.id)
                                            .order_by(TimelineEntry.id))]
        assert steps == ["asset_transferred", transfers.LOGGED_STEP]
    app = create_app(Settings(environment="test", data_dir=settings.data_dir, database_url=isolated_database.url,
                              secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False),
                     database=isolated_database)
    with TestClient(app, base_url="http://testserver") as client:
        sign_in(client, SimpleNamespace(email=old[0][1]))
        page = client.get(f"/exchange/contracts/{contract.id}").text
        assert f'href="/log/leaves/{entry.index}"' in page
        assert "资产转让补记入公共日志" in page
        pdf = client.get(f"/api/v1/exchange/contracts/{contract.id}/pdf")
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        assert f"Log leaf: {entry.index} {entry.leaf_hash}" in text
