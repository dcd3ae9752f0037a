"""``qianshu certificate status``: standing and encumbrance, as text and as JSON."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from qianshu.accounts.service import actor_for
from qianshu.cli import app
from qianshu.core.settings import get_settings
from qianshu.core.signing import load_signer
from qianshu.finance import schemas, service
from tests.data_folder import make_data_folder
from tests.factories import Factories
from tests.finance.conftest import issue_asset

runner = CliRunner()


def test_certificate_status_from_the_cli(  # type: ignore[no-untyped-def]
        monkeypatch, tmp_path, isolated_database, settings, gb_csv) -> None:
    folder = make_data_folder(tmp_path / "cli-data")
    monkeypatch.setenv("QIANSHU_DATA_DIR", str(folder))
    monkeypatch.setenv("QIANSHU_DATABASE_URL", isolated_database.url)
    get_settings.cache_clear()
    try:
        with isolated_database.unit_of_work() as db:
            asset = issue_asset(isolated_database, db, settings, Factories(db), gb_csv)
            bank, holder_org = actor_for(asset.bank, via="cli", ip=None), asset.holder.organisation.id
        result = runner.invoke(app, ["certificate", "status", asset.number, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["encumbered"] is False
        with isolated_database.unit_of_work() as db:
            service.create_pledge(db, bank, settings,
                                  load_signer(settings.key_dir), schemas.PledgeIn(
                                      certificate_number=asset.number, pledgor_org_id=holder_org,
                                      secured_fen=100_000_00, appraised_fen=1_000_000_00, interest_bp=400,
                                      term_months=12))
        found = json.loads(runner.invoke(app, ["certificate", "status", asset.number.lower(), "--json"]).output)
        assert (found["status"], found["encumbered"], found["open_pledges"]) == ("valid", True, 1)
        assert found["pledges"] == []  # the CLI asks anonymously
        text = runner.invoke(app, ["certificate", "status", asset.number])
        assert "已设质押：1" in text.output
        assert asset.number in text.output
        bad = runner.invoke(app, ["certificate", "status", "QS-12"])
        assert bad.exit_code == 1
        assert "QS-DR-YYYY-NNNNNN" in bad.output
    finally:
        get_settings.cache_clear()
