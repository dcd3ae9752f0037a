"""``qianshu monitoring feeds upload|list``, ``rules show|set`` and ``runs start --wait``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qianshu.cli import app
from qianshu.core.db import Database
from qianshu.core.settings import get_settings
from qianshu.monitoring.population import FEEDS, generate
from tests.data_folder import make_data_folder
from tests.factories import Factories

runner = CliRunner()
COUNTY = "520402"


def test_upload_list_set_and_run_from_the_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              isolated_database: Database) -> None:
    feeds = tmp_path / "feeds"
    generate(feeds, scope=[COUNTY], scale=0.01, seed=5, year=2025)
    folder = make_data_folder(tmp_path / "cli-data")
    monkeypatch.setenv("QIANSHU_DATA_DIR", str(folder))
    monkeypatch.setenv("QIANSHU_DATABASE_URL", isolated_database.url)
    get_settings.cache_clear()
    try:
        with isolated_database.unit_of_work() as db:
            make = Factories(db)
            org = make.org(org_type="government")
            make.user(organisation=org, email="bureau@gz.gov.cn", org_role="monitoring_admin", jurisdiction="520000")
        common = ["--year", "2025", "--division", COUNTY, "--as", "bureau@gz.gov.cn"]
        for feed in FEEDS:
            result = runner.invoke(app, ["monitoring", "feeds", "upload", str(feeds / f"{feed}.parquet"),
                                         "--feed", feed, *common, "--json"])
            assert result.exit_code == 0, result.output
            assert json.loads(result.output)["version"] == 1
        listed = runner.invoke(app, ["monitoring", "feeds", "list", "--as", "bureau@gz.gov.cn", "--json"])
        assert len(json.loads(listed.output)) == len(FEEDS)
        wrong = runner.invoke(app, ["monitoring", "feeds", "upload", str(feeds / "emergency.parquet"),
                                    "--feed", "emergency", "--year", "2023", "--division", COUNTY,
                                    "--as", "bureau@gz.gov.cn"])
        assert wrong.exit_code == 1
        assert "2023" in wrong.output
        assert runner.invoke(app, ["monitoring", "rules", "set", *common, "income_threshold_fen=900000"]).exit_code == 0
        shown = json.loads(runner.invoke(app, ["monitoring", "rules", "show", "--year", "2025", "--division", COUNTY,
                                               "--json"]).output)
        assert shown["parameters"]["income_threshold_fen"] == 900000
        assert shown["sources"]["income_threshold_fen"] == COUNTY
        started = runner.invoke(app, ["monitoring", "runs", "start", *common, "--wait", "--json"])
        assert started.exit_code == 0, started.output
        run = json.loads(started.output)
        assert run["status"] == "succeeded"
        assert run["households_flagged"] > 0
        configured = runner.invoke(app, ["monitoring", "run", str(feeds), "--year", "2025", "--division", COUNTY,
                                         "--configured", "--json"])
        assert json.loads(configured.output)["households"] == run["households_flagged"]
    finally:
        get_settings.cache_clear()
