"""A product's Parquet file opened once per process for the data API's pages: a bounded DuckDB
database (the base's analytics facility, the same limits as a connection per page had) that may
read that file and nothing else, with the file's schema and row count.

Opening a bounded connection and reading the file's schema and footer took about a third of a
page's time in the server; each page now takes a cursor of the kept database
(``BoundedConnection.cursor(seconds)``, with the page's time limit) and closes it. A cursor shares
the database's settings: memory and threads, no external access beyond the file, the
configuration lock.

The key is the file's resolved path (the blob store names a file by the SHA-256 of its content),
its size and modification time, and the limits: a product given a new data file, or a file written
again, is opened afresh. At most ``MAX_OPEN`` are kept (:class:`KeptDatabases`, which the
sandbox's databases use too).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import pyarrow as pa
import pyarrow.parquet as pq

from qianshu.core.analytics import BoundedConnection, Limits, connect

MAX_OPEN = 4
T = TypeVar("T")


class KeptDatabases(Generic[T]):
    """Bounded databases kept per key, at most ``size``, the least recently used let go first.

    One is opened outside the lock (opening may read a whole table); when two requests open the same
    at once, the second's is closed. One let go is not closed: a request may be about to take a
    cursor of it, and DuckDB closes a database when its last cursor is closed."""

    def __init__(self, size: int, close: Callable[[T], None]) -> None:
        self._kept: OrderedDict[tuple[Any, ...], T] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size
        self._close = close

    def get(self, key: tuple[Any, ...], open_: Callable[[], T]) -> T:
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
                return found
        opened = open_()
        with self._lock:
            found = self._kept.setdefault(key, opened)
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        if found is not opened:
            self._close(opened)
        return found

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


@dataclass(frozen=True)
class ProductFile:
    path: Path
    connection: BoundedConnection
    schema: pa.Schema
    num_rows: int


def file_key(path: Path) -> tuple[str, int, int]:
    """What names one version of a file: its resolved path, size and modification time."""
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _open(path: Path, limits: Limits) -> ProductFile:
    parquet = pq.ParquetFile(path)
    return ProductFile(path, cast(BoundedConnection, connect(limits, readable=[path])), parquet.schema_arrow,
                       parquet.metadata.num_rows)


_OPEN: KeptDatabases[ProductFile] = KeptDatabases(MAX_OPEN, lambda kept: kept.connection.close())


def product_file(path: Path, limits: Limits) -> ProductFile:
    """The kept database of ``path`` under ``limits`` (opened on first use)."""
    key = (*file_key(path), limits.memory_limit, limits.threads, limits.query_seconds)
    return _OPEN.get(key, lambda: _open(path, limits))


def forget() -> None:
    """Let every kept database go (tests)."""
    _OPEN.clear()
