"""Content-addressed blob store: a file's name is the SHA-256 of its bytes.

Writes go to a temporary file in the store, are fsynced, then renamed into place, so a
process killed mid-write leaves at most a ``tmp/`` file (swept by ``sweep_temporary``) and
never a blob whose name does not match its content. ``BlobStore`` is a Protocol: the
local folder is the embedded default; an S3-compatible store is the production choice.
:func:`open_blob_store` is the one place that builds a store (setting ``blob_store``): services,
job handlers and commands get their store from it, and job payloads carry blob ids, never paths.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    from qianshu.core.settings import Settings

CHUNK = 8 * 1024 * 1024


class BlobStore(Protocol):
    def put_stream(
        self, chunks: Iterable[bytes], *, max_bytes: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[str, int]: ...

    def put_file(
        self, path: Path, *, max_bytes: int | None = None, progress: Callable[[int], None] | None = None,
    ) -> tuple[str, int]: ...

    def open(self, digest: str) -> BinaryIO: ...

    def path(self, digest: str) -> Path: ...

    def exists(self, digest: str) -> bool: ...

    def delete(self, digest: str) -> None: ...

    def stat(self, digest: str) -> os.stat_result | None: ...

    def remove_if(self, digest: str, unchanged: Callable[[os.stat_result], bool]) -> bool: ...

    def discard_new(self, digest: str) -> bool: ...

    def sweep_temporary(self, older_than_seconds: float = 3600) -> int: ...

    def digests(self) -> Iterator[str]: ...

    def touch(self, digest: str) -> bool: ...


class BlobTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"blob exceeds {limit} bytes")
        self.limit = limit


class SourceChanged(Exception):
    """The file was written to while ``put_file`` stored it; nothing was stored."""


COPY_CHUNK = 16 * 1024 * 1024


def _copy(src: BinaryIO, dst: int, size: int, hashing: _TrailingHasher,
          progress: Callable[[int], None] | None) -> int:
    """Copy ``size`` bytes (the size when we began: a file that keeps growing cannot keep us
    here) into the descriptor ``dst`` by the kernel, in chunks, telling the hasher and
    ``progress`` after each; by plain reads where the kernel cannot. Returns the bytes copied
    (fewer if the file shrank)."""
    copied = 0
    kernel_copy = getattr(os, "copy_file_range", None)  # Linux only
    while copied < size:
        want = min(COPY_CHUNK, size - copied)
        try:
            if kernel_copy is None:
                raise OSError("no copy_file_range")
            n = kernel_copy(src.fileno(), dst, want)
        except OSError:  # another OS, or a file system that refuses (EXDEV, ENOSYS, EINVAL)
            kernel_copy = None
            block = src.read(want)
            n = len(block)
            view = memoryview(block)
            while view:
                view = view[os.write(dst, view):]
        if not n:
            break
        copied += n
        hashing.advance(copied)
        if progress:
            progress(copied)
    return copied


class _TrailingHasher(threading.Thread):
    """SHA-256 of the copy itself, read back (``pread``, from the page cache) right behind the
    copy as it grows, so the digest is of the bytes kept. hashlib releases the GIL for large
    buffers, so this runs beside the copy."""

    def __init__(self, fd: int) -> None:
        super().__init__(name="blob-hash", daemon=True)
        self.fd = fd
        self._written = 0
        self._finished = False
        self._cancelled = False
        self._ready = threading.Condition()
        self._digest = ""
        self._size = 0
        self._error: BaseException | None = None

    def advance(self, written: int) -> None:
        with self._ready:
            self._written = written
            self._ready.notify()

    def finish(self, *, cancelled: bool = False) -> None:
        with self._ready:
            self._finished, self._cancelled = True, cancelled
            self._ready.notify()

    def run(self) -> None:
        try:
            hasher = hashlib.sha256()
            offset = 0
            while True:
                with self._ready:
                    while offset >= self._written and not self._finished:
                        self._ready.wait()
                    limit, finished, cancelled = self._written, self._finished, self._cancelled
                if cancelled:
                    return
                while offset < limit:
                    block = os.pread(self.fd, min(CHUNK, limit - offset), offset)
                    if not block:
                        raise OSError(f"the copy is shorter than the {limit} bytes written")
                    hasher.update(block)
                    offset += len(block)
                if finished:
                    break
            self._digest, self._size = hasher.hexdigest(), offset
        except BaseException as exc:  # re-raised in the caller's thread by result()
            self._error = exc

    def result(self) -> tuple[str, int]:
        if self._error is not None:
            raise self._error
        return self._digest, self._size


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _valid_digest(digest: str) -> str:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("not a SHA-256 hex digest")
    return digest


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        self._created: dict[str, tuple[int, int]] = {}  # blobs this object's writes created

    def path(self, digest: str) -> Path:
        digest = _valid_digest(digest)
        return self.root / digest[:2] / digest[2:4] / digest

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def put_stream(
        self, chunks: Iterable[bytes], *, max_bytes: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[str, int]:
        hasher = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root / "tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise BlobTooLarge(max_bytes)
                    hasher.update(chunk)
                    fh.write(chunk)
                    if progress:
                        progress(size)
                fh.flush()
                os.fsync(fh.fileno())
            return self._commit(tmp, hasher.hexdigest()), size
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _commit(self, tmp: Path, digest: str) -> str:
        """Move a finished, fsynced temporary file to its content address (atomic).

        The blob's modification time is when it was last stored, which the orphan sweep's grace
        period counts from. A link, unlike a rename, fails if the address is taken, so the store
        knows whether this write created the blob (``discard_new`` may then take it back) or
        joined bytes someone else stored, whose row may still be on its way.
        """
        final = self.path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.utime(tmp)
        try:
            os.link(tmp, final)
        except FileExistsError:
            os.replace(tmp, final)
            self._created.pop(digest, None)
        except OSError:  # a file system without hard links: never claim the blob as our own
            os.replace(tmp, final)
            self._created.pop(digest, None)
        else:
            tmp.unlink()
            self._created[digest] = _identity(final.stat())
        return digest

    def put_file(
        self, path: Path, *, max_bytes: int | None = None, progress: Callable[[int], None] | None = None,
    ) -> tuple[str, int]:
        """Store a local file: the kernel copies it (``copy_file_range``) while a second thread
        hashes the copy right behind it. About twice as fast as copying, then hashing the copy,
        and 2-3x faster than streaming the file through Python; the digest is still of the
        bytes kept, so a blob's name always matches its content.

        The source's size and modification time are compared before and after: a file written
        to meanwhile raises ``SourceChanged`` and nothing is stored.
        """
        with path.open("rb") as src:
            before = os.fstat(src.fileno())
            if max_bytes is not None and before.st_size > max_bytes:
                raise BlobTooLarge(max_bytes)
            fd, tmp_name = tempfile.mkstemp(dir=self.root / "tmp")  # read-write: the hasher reads it back
            tmp = Path(tmp_name)
            hashing = _TrailingHasher(fd)
            try:
                hashing.start()
                try:
                    copied = _copy(src, fd, before.st_size, hashing, progress)
                    os.fsync(fd)
                except BaseException:
                    hashing.finish(cancelled=True)  # don't read the rest for nothing
                    raise
                else:
                    hashing.finish()
                finally:
                    hashing.join()
                after = os.fstat(src.fileno())
                digest, hashed = hashing.result()
                if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or not (
                        copied == hashed == after.st_size):
                    raise SourceChanged(str(path))
                os.close(fd)
                fd = -1
                return self._commit(tmp, digest), copied
            except BaseException:
                if fd >= 0:
                    os.close(fd)
                tmp.unlink(missing_ok=True)
                raise

    def open(self, digest: str) -> BinaryIO:
        return self.path(digest).open("rb")

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def digests(self) -> Iterator[str]:
        """Every stored blob (not the temporary files), in no particular order."""
        for first in sorted(self.root.iterdir()):
            if len(first.name) != 2 or not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                for blob in second.iterdir():
                    name = blob.name
                    if len(name) == 64 and name.startswith(first.name + second.name) and \
                            all(c in "0123456789abcdef" for c in name):
                        yield name

    def stat(self, digest: str) -> os.stat_result | None:
        try:
            return self.path(digest).stat()
        except FileNotFoundError:
            return None

    def touch(self, digest: str) -> bool:
        """Mark the blob as just stored (it restarts the sweep's grace period); False if it is gone."""
        try:
            os.utime(self.path(digest))
        except FileNotFoundError:
            return False
        return True

    def remove_if(self, digest: str, unchanged: Callable[[os.stat_result], bool]) -> bool:
        """Remove the blob if ``unchanged(its stat)`` holds, safely against a concurrent store of
        the same bytes: the blob is first renamed away (atomic), then the copy taken is checked
        again; if someone stored the bytes just before the rename, the copy is put back."""
        final = self.path(digest)
        before = self.stat(digest)
        if before is None or not unchanged(before):
            return False
        taken = self.root / "tmp" / f"removing-{digest}-{os.getpid()}-{threading.get_ident()}"
        try:
            os.rename(final, taken)
        except FileNotFoundError:  # removed meanwhile by another sweeper
            return False
        try:
            if unchanged(taken.stat()):
                taken.unlink()
                return True
        except FileNotFoundError:  # a starting process swept it from tmp/ as a leftover
            return True
        with contextlib.suppress(FileExistsError):  # stored yet again after the rename: that copy stays
            os.link(taken, final)
        taken.unlink()
        return False

    def discard_new(self, digest: str) -> bool:
        """Delete a blob this store object created, unless someone has stored the same bytes
        since (which gives the address a new file). A blob that already existed when this
        store wrote it is left alone: another upload of the same bytes may be recording it."""
        identity = self._created.pop(digest, None)
        if identity is None:
            return False
        return self.remove_if(digest, lambda st: _identity(st) == identity)

    def sweep_temporary(self, older_than_seconds: float = 3600) -> int:
        """Remove temporary files left by killed writers."""
        removed = 0
        cutoff = time.time() - older_than_seconds
        for tmp in (self.root / "tmp").iterdir():
            if tmp.stat().st_mtime < cutoff:
                if tmp.is_dir():
                    shutil.rmtree(tmp, ignore_errors=True)
                else:
                    tmp.unlink(missing_ok=True)
                removed += 1
        return removed


def open_blob_store(settings: Settings) -> BlobStore:
    """The blob store the settings choose (``blob_store``): the only place a store is built."""
    if settings.blob_store == "local":
        return LocalBlobStore(settings.blob_dir)
    raise ValueError(f"unknown blob_store {settings.blob_store!r}")  # pragma: no cover - settings validate it


def referenced_by_capabilities(db: object, digest: str) -> bool:
    """Whether a capability's rows refer to ``digest`` (its manifest's ``blob_references``): a
    sweep of orphan blobs must keep it. Looked up by name: core does not import the capability list."""
    import importlib

    capabilities = importlib.import_module("qianshu.capabilities")
    return any(check(db, digest) for check in capabilities.blob_reference_checks())
