"""The load test of ``benchmarks/load.py``, bounded for CI: 16 clients for about 30 s on the database
the suite runs on, the server SIGKILLed twice, slow-body attackers alongside (docs/load.md)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from benchmarks import load
from rich.console import Console


@pytest.mark.slow
def test_sixteen_clients_with_two_kills_and_slow_attackers_lose_nothing_and_stay_responsive(tmp_path: Path) -> None:
    server = os.environ.get("QIANSHU_TEST_DATABASE_URL")
    config = load.LoadConfig(database="postgres" if server else "sqlite", pg_url=server or load.DEFAULT_PG_URL,
                             clients=16, seconds=30, kills=2, attackers=4, log_dir=tmp_path)
    out = io.StringIO()
    console = Console(file=out, width=160)
    # run_load stops the server's process group and drops its data folder and database in a
    # finally block, so a failing or interrupted run leaves no process or database behind.
    result = load.run_load(config, console)
    load.report(result, console)
    failed = [f"{check.name}: {check.detail}" for check in result.checks if not check.passed]
    log = tmp_path / f"serve-{config.database}.log"
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.exists() else ""
    assert not failed, "\n".join(failed) + "\n\n" + out.getvalue() + "\nserver log (tail):\n" + tail
