"""``qianshu vouchers``: the administrators' commands on a data folder: list the programmes, a
budget, lapse expired vouchers, return an ended programme's budget (once), export CSV."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qianshu.cli import app
from qianshu.core.db import Database
from qianshu.core.settings import get_settings
from qianshu.vouchers.models import Programme
from tests.data_folder import make_data_folder
from tests.factories import Factories
from tests.vouchers.conftest import build_world, issue
from tests.vouchers.test_closing import end_programme

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated_database: Database) -> Iterator[Database]:
    monkeypatch.setenv("QIANSHU_DATA_DIR", str(make_data_folder(tmp_path / "cli-data")))
    monkeypatch.setenv("QIANSHU_DATABASE_URL", isolated_database.url)
    get_settings.cache_clear()
    yield isolated_database
    get_settings.cache_clear()


def test_the_administrators_commands(cli_env: Database, tmp_path: Path) -> None:
    with cli_env.unit_of_work() as db:
        world = build_world(db, Factories(db))
        issue(db, world, world.company, [100_000_00, 50_000_00])
        programme_id = world.programme_id
    listed = runner.invoke(app, ["vouchers", "programmes", "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)["programmes"]
    assert (row["id"], row["committed_fen"], row["remaining_fen"]) == (programme_id, 150_000_00,
                                                                       10_000_000_00 - 150_000_00)
    shown = runner.invoke(app, ["vouchers", "budget", str(programme_id)])
    assert shown.exit_code == 0
    assert "可发放" in shown.output
    assert "remaining" in shown.output
    out = tmp_path / "vouchers.csv"
    exported = runner.invoke(app, ["vouchers", "export", str(programme_id), str(out), "--what", "vouchers"])
    assert exported.exit_code == 0, exported.output
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("voucher_id,holder_uscc,face_fen")
    assert len(lines) == 3
    refused = runner.invoke(app, ["vouchers", "return", str(programme_id)])
    assert refused.exit_code == 1
    assert "programme runs until" in refused.output
    with cli_env.unit_of_work() as db:
        end_programme(db, programme_id, days_ago=2)
    lapsed = runner.invoke(app, ["vouchers", "expire", "--json"])
    assert json.loads(lapsed.output) == {"lapsed_vouchers": 2}
    returned = runner.invoke(app, ["vouchers", "return", str(programme_id), "--json"])
    assert returned.exit_code == 0, returned.output
    assert json.loads(returned.output)["returned_fen"] == 10_000_000_00
    again = runner.invoke(app, ["vouchers", "return", str(programme_id), "--json"])
    assert json.loads(again.output)["returned_fen"] == 0
    with cli_env.unit_of_work(write=False) as db:
        assert db.get_one(Programme, programme_id).returned_fen == 10_000_000_00
    missing = runner.invoke(app, ["vouchers", "budget", "999999"])
    assert missing.exit_code == 1
    assert "不存在" in missing.output
    assert "does not exist" in missing.output
