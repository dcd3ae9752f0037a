"""The sweep of cached shared files: a Delta Sharing version's marked files are removed once their
contract ended or they passed their age, never while a pre-signed URL to them still works or a
query holds the contract's folder; stale download copies go too. Against a live server."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.delivery import caches, delta_tokens, jobs
from qianshu.delivery.settings import DeliverySettings
from qianshu.exchange import changes as exchange_changes
from qianshu.exchange import contracts as exchange_contracts
from qianshu.exchange.schemas import ChangeIn
from tests.delivery.test_delta_sharing import _profile, committed_contract, live  # noqa: F401 - fixture

pytest.importorskip("delta_sharing")


def _query(base: str, token: str, number: str) -> list[str]:
    table = f"/shares/{delta_tokens.share_name(number)}/schemas/product/tables/data/query"
    answer = httpx.post(f"{base}/delta-sharing{table}", headers={"Authorization": f"Bearer {token}"}, json={})
    assert answer.status_code == 200, answer.text
    return [json.loads(x)["file"]["url"] for x in answer.text.splitlines() if '"file"' in x]


def _age(folder: Path, seconds: float) -> None:
    """Make the folder look written and last used ``seconds`` ago."""
    moment = time.time() - seconds
    for name in (caches.USED, caches.MANIFEST):
        os.utime(folder / name, (moment, moment))


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("part-*.parquet"))}


def test_the_sweep_removes_due_files_never_one_in_use(live: tuple[str, Settings],  # noqa: F811 - fixture
                                                      isolated_database: Database, tmp_path: Path) -> None:
    base, settings = live
    section = settings.section(DeliverySettings)
    url_seconds = section.sharing_url_minutes * 60.0
    trade = committed_contract(isolated_database, settings, tmp_path, "delta_sharing")
    _path, token = _profile(isolated_database, settings, trade, tmp_path)
    urls = _query(base, token, trade["number"])
    contract_folder = caches.sharing_root(settings.data_dir) / str(trade["contract_id"])
    (folder,) = [f for f in contract_folder.iterdir() if f.is_dir()]
    written = _digests(folder)

    def sweep(max_age: float = section.sharing_cache_days * 86_400.0) -> caches.Sweep:
        def in_force(contract_id: int) -> bool:
            with isolated_database.unit_of_work(write=False) as db:
                return exchange_contracts.contract_is_active(db, contract_id, "delta_sharing")
        return caches.sweep(settings.data_dir, in_force=in_force, max_age_seconds=max_age, url_seconds=url_seconds)

    # Young and in force: kept.
    assert sweep().removed == []
    assert folder.is_dir()
    # Past its age, but URLs handed out a moment ago still work: kept, and they are served.
    report = sweep(max_age=0)
    assert report.removed == []
    assert report.kept_in_use == [f"{trade['contract_id']}/{folder.name}"]
    assert httpx.get(urls[0]).status_code == 200
    # A query holding the contract's folder (writing, or handing out URLs): the sweep skips it.
    _age(folder, url_seconds + 120)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with caches.contract_lock(contract_folder, exclusive=False):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        report = sweep(max_age=0)
        assert report.skipped_busy == [trade["contract_id"]]
        assert folder.is_dir()
    finally:
        release.set()
        holder.join()
    # Fetching a file keeps the folder in use.
    httpx.get(urls[0])
    assert sweep(max_age=0).removed == []
    assert folder.is_dir()
    # Idle for longer than a URL lives: removed; the next query writes the same bytes again.
    _age(folder, url_seconds + 120)
    assert sweep(max_age=0).removed == [f"{trade['contract_id']}/{folder.name}"]
    assert not folder.exists()
    assert _query(base, token, trade["number"])
    assert _digests(folder) == written

    # The contract ends: its files go once idle (the periodic task, as the worker runs it).
    with isolated_database.unit_of_work() as db:
        exchange_changes.operate(db, trade["operator"], trade["contract_id"],
                                 ChangeIn(kind="terminate", reason="测试终止"))
    assert jobs.sweep_caches(isolated_database, settings) == 0  # used a moment ago
    assert folder.is_dir()
    _age(folder, url_seconds + 120)
    assert jobs.sweep_caches(isolated_database, settings) == 1
    assert not folder.exists()


def test_download_copies_left_by_a_crash_are_removed_after_a_day(tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    stale, fresh, other = (temporary / "qianshu-download-old", temporary / "qianshu-download-new",
                           temporary / "someone-elses")
    for path in (stale, fresh, other):
        path.write_bytes(b"x")
    day_ago = time.time() - caches.STALE_TMP_SECONDS - 60
    for path in (stale, other):
        os.utime(path, (day_ago, day_ago))
    report = caches.sweep(tmp_path, in_force=lambda _c: True, max_age_seconds=1.0, url_seconds=1.0)
    assert report.downloads_removed == 1
    assert not stale.exists()
    assert fresh.exists()
    assert other.exists()


def test_the_sweep_is_a_periodic_task_of_the_manifest() -> None:
    from qianshu.delivery.manifest import MANIFEST

    task: Any = MANIFEST.periodic["delivery.sweep_caches"]
    assert task.task == "qianshu.delivery.jobs:sweep_caches"
