"""Content-addressed blobs: names are SHA-256 of the bytes; failed writes leave nothing behind."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qianshu.core import blobs
from qianshu.core.blobs import BlobStore, BlobTooLarge, LocalBlobStore, SourceChanged

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def temporary_files(store: LocalBlobStore) -> list[Path]:
    return list((store.root / "tmp").iterdir())


def stored_blobs(store: LocalBlobStore) -> list[Path]:
    return [p for p in store.root.rglob("*") if p.is_file() and "tmp" not in p.relative_to(store.root).parts]


def test_local_store_satisfies_the_protocol(store: LocalBlobStore) -> None:
    as_protocol: BlobStore = store
    assert as_protocol is store


def test_a_blob_is_named_by_the_sha256_of_its_bytes(store: LocalBlobStore) -> None:
    data = "黔数 data exchange\n".encode() * 1000
    digest, size = store.put_stream([data[:10], data[10:5000], data[5000:]])
    assert digest == hashlib.sha256(data).hexdigest()
    assert size == len(data)
    assert store.exists(digest)
    assert store.path(digest) == store.root / digest[:2] / digest[2:4] / digest
    with store.open(digest) as fh:
        assert fh.read() == data
    assert temporary_files(store) == []


def test_empty_stream_is_the_empty_blob(store: LocalBlobStore) -> None:
    assert store.put_stream([]) == (EMPTY_SHA256, 0)
    assert store.path(EMPTY_SHA256).read_bytes() == b""


def test_same_content_is_stored_once(store: LocalBlobStore) -> None:
    first = store.put_stream([b"abc"])
    second = store.put_stream([b"a", b"bc"])
    assert first == second
    assert len(stored_blobs(store)) == 1


def test_put_file(store: LocalBlobStore, tmp_path: Path) -> None:
    source = tmp_path / "upload.csv"
    data = os.urandom(2 * 1024 * 1024 + 17)  # more than one read chunk
    source.write_bytes(data)
    assert store.put_file(source) == (hashlib.sha256(data).hexdigest(), len(data))


def test_progress_reports_running_size(store: LocalBlobStore) -> None:
    seen: list[int] = []
    store.put_stream([b"ab", b"", b"cde"], progress=seen.append)
    assert seen == [2, 2, 5]


def test_exactly_the_limit_is_accepted(store: LocalBlobStore) -> None:
    digest, size = store.put_stream([b"12345", b"67890"], max_bytes=10)
    assert size == 10
    assert store.exists(digest)


def test_over_the_limit_raises_and_leaves_no_temporary_file_and_no_blob(store: LocalBlobStore) -> None:
    seen: list[int] = []
    with pytest.raises(BlobTooLarge) as excinfo:
        store.put_stream([b"12345", b"67890", b"x"], max_bytes=10, progress=seen.append)
    assert excinfo.value.limit == 10
    assert seen == [5, 10]
    assert temporary_files(store) == []
    assert stored_blobs(store) == []


def test_limit_stops_reading_an_endless_stream(store: LocalBlobStore) -> None:
    def endless() -> Iterator[bytes]:
        while True:
            yield b"\0" * 1024

    with pytest.raises(BlobTooLarge):
        store.put_stream(endless(), max_bytes=64 * 1024)
    assert temporary_files(store) == []


def test_a_stream_failing_midway_leaves_no_temporary_file_and_no_blob(store: LocalBlobStore) -> None:
    def failing() -> Iterator[bytes]:
        yield b"first part"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.put_stream(failing())
    assert temporary_files(store) == []
    assert stored_blobs(store) == []
    assert not store.exists(hashlib.sha256(b"first part").hexdigest())


def test_an_interrupt_midway_is_cleaned_up_too(store: LocalBlobStore) -> None:
    def interrupted() -> Iterator[bytes]:
        yield b"x"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.put_stream(interrupted())
    assert temporary_files(store) == []


def test_delete_removes_and_tolerates_missing(store: LocalBlobStore) -> None:
    digest, _ = store.put_stream([b"gone soon"])
    store.delete(digest)
    assert not store.exists(digest)
    store.delete(digest)  # deleting again is not an error


@pytest.mark.parametrize(
    "digest",
    [
        "",
        "abc",
        EMPTY_SHA256.upper(),
        EMPTY_SHA256[:-1],
        EMPTY_SHA256 + "0",
        "../" + EMPTY_SHA256[3:],
        "g" * 64,
        EMPTY_SHA256[:-1] + "\n",
    ],
)
def test_invalid_digests_are_rejected_everywhere(store: LocalBlobStore, digest: str) -> None:
    for operation in (store.path, store.exists, store.open, store.delete):
        with pytest.raises(ValueError, match="SHA-256"):
            operation(digest)


def test_sweep_removes_only_old_temporary_files(store: LocalBlobStore) -> None:
    tmp = store.root / "tmp"
    old_file, new_file, old_dir = tmp / "old", tmp / "new", tmp / "olddir"
    old_file.write_bytes(b"left by a killed writer")
    new_file.write_bytes(b"a writer still at work")
    old_dir.mkdir()
    (old_dir / "inner").write_bytes(b"x")
    an_hour_ago = time.time() - 7200
    for path in (old_file, old_dir):
        os.utime(path, (an_hour_ago, an_hour_ago))
    digest, _ = store.put_stream([b"a real blob"])

    assert store.sweep_temporary(older_than_seconds=3600) == 2
    assert sorted(p.name for p in tmp.iterdir()) == ["new"]
    assert store.exists(digest)
    ten_seconds_ago = time.time() - 10
    os.utime(new_file, (ten_seconds_ago, ten_seconds_ago))
    assert store.sweep_temporary(older_than_seconds=5) == 1
    assert temporary_files(store) == []
    assert store.sweep_temporary() == 0


def test_put_file_reports_progress_and_refuses_files_over_the_limit(
        store: LocalBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blobs, "COPY_CHUNK", 1000)
    source = tmp_path / "data.csv"
    source.write_bytes(b"x" * 2500)
    seen: list[int] = []
    assert store.put_file(source, progress=seen.append)[1] == 2500
    assert seen == [1000, 2000, 2500]
    with pytest.raises(BlobTooLarge):
        store.put_file(source, max_bytes=2499)
    assert temporary_files(store) == []


def test_put_file_refuses_a_file_written_to_while_it_is_stored(
        store: LocalBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blobs, "COPY_CHUNK", 1000)
    source = tmp_path / "growing.csv"
    source.write_bytes(b"a,b\n" * 1000)

    def another_writer(_done: int) -> None:
        with source.open("ab") as fh:
            fh.write(b"1,2\n")

    with pytest.raises(SourceChanged):
        store.put_file(source, progress=another_writer)
    assert temporary_files(store) == []
    assert stored_blobs(store) == []


def test_put_file_copies_by_reading_where_the_kernel_cannot(
        store: LocalBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> int:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", refuse, raising=False)
    source = tmp_path / "other-fs.csv"
    data = os.urandom(3 * 1024 * 1024 + 5)
    source.write_bytes(data)
    digest, size = store.put_file(source)
    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert store.path(digest).read_bytes() == data


def test_put_file_of_a_missing_file_leaks_no_descriptor(store: LocalBlobStore, tmp_path: Path) -> None:
    def open_descriptors() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_descriptors()
    for _ in range(20):
        with pytest.raises(FileNotFoundError):
            store.put_file(tmp_path / "gone.csv")
    assert open_descriptors() == before
    assert temporary_files(store) == []
