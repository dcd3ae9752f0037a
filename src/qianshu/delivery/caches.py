"""Clean-up of delivery's cached files: the marked Parquet parts of Delta Sharing
(``<data>/delivery/sharing/<contract>/v<n>-<sha>/``) and download copies left in ``<data>/tmp``.

A version folder is removed when its contract is no longer in force for Delta Sharing or it is
older than ``[delivery] sharing_cache_days``, **and** it is not in use: its last use (a query, or a
fetch of one of its files, touches ``.used``) is longer ago than a pre-signed URL lives
(``sharing_url_minutes``) plus a minute, so no URL handed out for it still works, and a client
still reading has its file open (POSIX keeps an open file readable after its name is removed).

A query takes the contract folder's lock (``.lock``, ``fcntl.flock``) shared while it writes or
finds its folder and touches ``.used``; the sweep takes it exclusively, without waiting (a busy
contract is skipped until the next run), checks, renames the folder away and deletes it. So a
query never hands out URLs to a folder being removed. (``flock`` works between processes of one
machine and on local disks; web workers on several machines sharing one data folder over NFS need
the folder's lock to be honoured there too.) A removed version is written again, byte for byte,
by the next query that asks for it, since the marks are deterministic.

Download copies are written to ``<data>/tmp/qianshu-download-*`` and removed once sent; the sweep
removes those a crash left behind, once a day old.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

USED = ".used"
LOCK = ".lock"
MANIFEST = "files.json"
DOWNLOAD_PREFIX = "qianshu-download-"
GRACE_SECONDS = 60.0
STALE_TMP_SECONDS = 24 * 3600.0


def sharing_root(data_dir: Path) -> Path:
    return data_dir / "delivery" / "sharing"


@contextlib.contextmanager
def contract_lock(contract_folder: Path, *, exclusive: bool, wait: bool = True) -> Iterator[bool]:
    """The contract folder's lock; yields False when ``wait`` is off and another holds it."""
    contract_folder.mkdir(parents=True, exist_ok=True)
    with (contract_folder / LOCK).open("a") as handle:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(handle, mode | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def mark_used(version_folder: Path, now: float | None = None) -> None:
    """Record that URLs to this folder's files were handed out, or one was fetched, now."""
    marker = version_folder / USED
    marker.touch(exist_ok=True)
    if now is not None:
        os.utime(marker, (now, now))


def last_used(version_folder: Path) -> float:
    times = [(version_folder / name).stat().st_mtime for name in (USED, MANIFEST) if (version_folder / name).exists()]
    return max(times, default=version_folder.stat().st_mtime)


def created(version_folder: Path) -> float:
    manifest = version_folder / MANIFEST
    return (manifest if manifest.exists() else version_folder).stat().st_mtime


@dataclass
class Sweep:
    removed: list[str] = field(default_factory=list)  # "<contract>/<version folder>"
    kept_in_use: list[str] = field(default_factory=list)  # due, but a URL to it may still work
    skipped_busy: list[int] = field(default_factory=list)  # contracts whose lock another held
    bytes_freed: int = 0
    downloads_removed: int = 0


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def sweep(data_dir: Path, *, in_force: Callable[[int], bool], max_age_seconds: float, url_seconds: float,
          now: float | None = None) -> Sweep:
    """Remove the version folders that are due and not in use (see the module's docstring)."""
    moment = time.time() if now is None else now
    idle_needed = url_seconds + GRACE_SECONDS
    report = Sweep()
    root = sharing_root(data_dir)
    for contract_folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not contract_folder.is_dir() or not contract_folder.name.isdigit():
            continue
        contract_id = int(contract_folder.name)
        ended = not in_force(contract_id)
        with contract_lock(contract_folder, exclusive=True, wait=False) as held:
            if not held:
                report.skipped_busy.append(contract_id)
                continue
            for folder in sorted(contract_folder.iterdir()):
                if not folder.is_dir():
                    continue
                name = f"{contract_id}/{folder.name}"
                if folder.name.startswith((".tmp-", ".trash-")):
                    # A write that crashed (a write in progress holds the lock, so none is running now).
                    shutil.rmtree(folder, ignore_errors=True)
                    continue
                due = ended or moment - created(folder) > max_age_seconds
                if not due:
                    continue
                if moment - last_used(folder) <= idle_needed:
                    report.kept_in_use.append(name)
                    continue
                size = _size(folder)
                trash = contract_folder / f".trash-{uuid.uuid4().hex}"
                os.rename(folder, trash)
                shutil.rmtree(trash, ignore_errors=True)
                report.removed.append(name)
                report.bytes_freed += size
    temporary = data_dir / "tmp"
    for leftover in sorted(temporary.glob(f"{DOWNLOAD_PREFIX}*")) if temporary.is_dir() else []:
        with contextlib.suppress(FileNotFoundError):
            if moment - leftover.stat().st_mtime > STALE_TMP_SECONDS:
                leftover.unlink()
                report.downloads_removed += 1
    return report
