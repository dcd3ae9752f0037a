"""Blobs left by a process killed between storing and recording are swept; nothing else is (issue 9)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from typer.testing import CliRunner

from qianshu.capabilities import periodic_tasks
from qianshu.cli import app
from qianshu.core.blobs import LocalBlobStore, open_blob_store
from qianshu.core.jobs import JobContext, run_periodic
from qianshu.core.settings import get_settings
from qianshu.registry import schemas, service
from tests.data_folder import make_data_folder

HOUR = 3600


def _age(store: LocalBlobStore, digest: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(store.path(digest), (then, then))


def test_the_periodic_sweep_removes_an_unrecorded_blob_after_the_grace_period(database, db, settings, make,
                                                                              merchant) -> None:
    store = open_blob_store(settings)
    orphan, _ = service.store_upload(store, [b"killed,before\n1,recording\n"], 10**6)
    young, _ = service.store_upload(store, [b"still,being\n1,recorded\n"], 10**6)
    actor = make.actor(merchant)
    reg = service.create_registration(db, actor, schemas.RegistrationCreate(title_zh="留"))
    recorded, size = service.store_upload(store, [b"recorded,file\n1,2\n"], 10**6)
    service.add_file(db, actor, reg.id, "kept.csv", recorded, size)
    db.commit()
    _age(store, orphan, 2 * HOUR)
    _age(store, recorded, 2 * HOUR)
    _age(store, young, HOUR - 60)

    assert "registry.sweep_blobs" in run_periodic(JobContext.build(database, settings), periodic_tasks())
    assert not store.exists(orphan)
    assert store.exists(recorded)
    assert store.exists(young)
    assert periodic_tasks()["registry.sweep_blobs"][0] == HOUR


def test_a_blob_stored_again_while_being_swept_is_put_back(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    digest, _ = store.put_stream([b"same bytes"])
    _age(store, digest, 2 * HOUR)
    cutoff = time.time() - HOUR
    calls = 0

    def old(st: os.stat_result) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:  # an upload of the same bytes stores them right after the first look
            LocalBlobStore(store.root).put_stream([b"same bytes"])
            return True
        return st.st_mtime < cutoff

    assert not store.remove_if(digest, old)
    assert store.exists(digest)
    assert store.open(digest).read() == b"same bytes"
    assert not list((store.root / "tmp").iterdir())


def test_two_sweepers_at_once_remove_each_blob_once(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    digests = [store.put_stream([f"blob {i}".encode()])[0] for i in range(200)]
    for digest in digests:
        _age(store, digest, 2 * HOUR)
    counts: list[int] = []
    cutoff = time.time() - HOUR

    def sweep() -> None:
        counts.append(sum(store.remove_if(d, lambda st: st.st_mtime < cutoff) for d in LocalBlobStore(store.root)
                          .digests()))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 200
    assert list(store.digests()) == []


def test_a_failed_upload_does_not_delete_the_same_bytes_another_upload_stored(tmp_path: Path) -> None:
    # Upload A stores, upload B stores the same bytes and is about to record them; A's record fails.
    a, b = LocalBlobStore(tmp_path / "blobs"), LocalBlobStore(tmp_path / "blobs")
    digest, _ = a.put_stream([b"identical"])
    b.put_stream([b"identical"])
    assert not a.discard_new(digest)
    assert a.exists(digest)
    # B stored first, then A: A did not create the blob, so it leaves it alone
    other = b.put_stream([b"other bytes"])[0]
    a.put_stream([b"other bytes"])
    assert not a.discard_new(other)
    assert a.exists(other)
    # alone, a failed upload takes its blob back
    lone = a.put_stream([b"lonely"])[0]
    assert a.discard_new(lone)
    assert not a.exists(lone)


def test_sweep_blobs_from_the_cli(monkeypatch, tmp_path, isolated_database) -> None:
    monkeypatch.setenv("QIANSHU_DATA_DIR", str(make_data_folder(tmp_path / "cli-data")))
    monkeypatch.setenv("QIANSHU_DATABASE_URL", isolated_database.url)
    get_settings.cache_clear()
    try:
        store = open_blob_store(get_settings())
        digest, _ = store.put_stream([b"orphan"])
        result = CliRunner().invoke(app, ["registry", "sweep-blobs"])
        assert result.exit_code == 0, result.output
        assert store.exists(digest)  # within the grace period
        _age(store, digest, 2 * HOUR)
        result = CliRunner().invoke(app, ["registry", "sweep-blobs"])
        assert result.exit_code == 0, result.output
        assert "removed 1" in result.output
        assert not store.exists(digest)
    finally:
        get_settings.cache_clear()
