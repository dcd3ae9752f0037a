"""The one bounded analytics facility: every DuckDB connection of the project comes from here.

A connection is an in-process DuckDB with

- a memory limit and a thread limit (``analytics_memory_limit``, ``analytics_threads``);
- a time limit per query: DuckDB has no statement timeout, so each ``execute``/``fetch*`` registers
  its deadline with one watchdog thread of the process, which calls ``interrupt()`` when it passes,
  and the interrupted query raises
  :class:`~qianshu.core.errors.QueryTimedOut` (a domain error, bilingual, not a ``duckdb.Error``:
  code that turns DuckDB errors into "this file cannot be read" lets it through);
- no external access (``enable_external_access=false``): no file, no network, no Python
  replacement scans. Only Arrow tables and relations registered on the connection can be read,
  plus the files and folders the caller names (``readable``: DuckDB's ``allowed_paths`` and
  ``allowed_directories``, which stay readable and writable while external access is off);
- no extension installed or loaded on demand (``autoinstall``/``autoload`` off);
- its configuration locked (``lock_configuration=true``): a query cannot ``SET`` its way out.

The registry's pipeline (ingest, profile, PII scan) and its sample reads for the catalogue use
it now, and so does the delivery sandbox (one database per product's files, a cursor per query);
monitoring will use it next.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, SupportsInt

import duckdb

from qianshu.core.errors import QueryTimedOut

if TYPE_CHECKING:
    import pyarrow as pa

    from qianshu.core.settings import Settings

    # Seen by the type checker as a DuckDB connection (callers keep their annotations); at run time
    # it is a small proxy that adds the per-query time limit.
    _ConnectionBase = duckdb.DuckDBPyConnection
else:
    _ConnectionBase = object

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """What one connection may use: memory (DuckDB's notation, ``"1GB"``), threads, seconds per query."""

    memory_limit: str = "1GB"
    threads: int = 2
    query_seconds: float = 1800.0

    @classmethod
    def from_settings(cls, settings: Settings, *, interactive: bool = False) -> Limits:
        """The settings' limits; ``interactive`` ones (a page waiting) take the short time limit
        and a quarter of the memory on one thread."""
        limits = cls(settings.analytics_memory_limit, settings.analytics_threads, settings.analytics_query_seconds)
        if interactive:
            limits = replace(limits, threads=1, query_seconds=settings.analytics_interactive_seconds,
                             memory_limit=settings.analytics_interactive_memory_limit)
        return limits


@dataclass(eq=False)
class _Watch:
    connection: duckdb.DuckDBPyConnection | None
    deadline: float
    fired: bool = False


class _Watchdog:
    """One thread that interrupts the queries past their time limit, for every connection of the
    process: a timer thread started per ``execute``/``fetch`` cost more than a short query's plan
    (a sandbox query or a data API page makes two to four such calls)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, connection: duckdb.DuckDBPyConnection, seconds: float) -> _Watch:
        watch = _Watch(connection, time.monotonic() + seconds)
        with self._lock:
            if len(self._heap) > 1024:  # calls that returned long before their deadline: let them go
                self._heap = [entry for entry in self._heap if entry[2].deadline >= 0]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (watch.deadline, next(self._order), watch))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="analytics-time-limit", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is watch:
                self._lock.notify()  # an earlier deadline than the one the thread waits for
        return watch

    def release(self, watch: _Watch) -> None:
        # Marked done under the lock, so the thread never interrupts a connection once its call
        # returned (its next query would be stopped); the heap entry is dropped when it comes up.
        with self._lock:
            watch.deadline, watch.connection = -1.0, None

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0][2].deadline < 0:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._lock.wait()
                    continue
                due, _order, watch = self._heap[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                heapq.heappop(self._heap)
                if watch.connection is not None:
                    watch.fired = True
                    watch.connection.interrupt()


_WATCHDOG = _Watchdog()
# A child process (a worker forked from a parent that ran queries) starts with a watchdog of its
# own: the parent's thread does not exist there, and its lock may have been held at the fork.
os.register_at_fork(after_in_child=_WATCHDOG.reset)


class BoundedConnection(_ConnectionBase):
    """A DuckDB connection whose queries stop after ``seconds`` (see the module's docstring)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, seconds: float) -> None:
        self._connection = connection
        self._seconds = seconds

    @contextmanager
    def _time_limit(self) -> Iterator[None]:
        watch = _WATCHDOG.watch(self._connection, self._seconds)
        try:
            yield
        except duckdb.InterruptException as exc:
            if watch.fired:
                raise QueryTimedOut(
                    "The query was stopped after {seconds} seconds, the time limit for analytical queries.",
                    seconds=_seconds_text(self._seconds)) from exc
            raise
        finally:
            _WATCHDOG.release(watch)

    def execute(self, query: Any, parameters: object = None) -> BoundedConnection:
        with self._time_limit():
            self._connection.execute(query, parameters)
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        with self._time_limit():
            return self._connection.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        with self._time_limit():
            return self._connection.fetchall()

    def fetchmany(self, size: SupportsInt = 1) -> list[tuple[Any, ...]]:
        with self._time_limit():
            return self._connection.fetchmany(size)

    def arrow(self, query: str) -> pa.Table:
        """A query's whole answer as an Arrow table, within the time limit (a relation's own
        ``to_arrow_table``, without the DB-API result's extra copy of the rows)."""
        with self._time_limit():
            return self._connection.sql(query).to_arrow_table()

    def cursor(self, seconds: float | None = None) -> BoundedConnection:
        """Another connection to the same database, one per thread (a DuckDB connection runs one
        query at a time), with this time limit or ``seconds``. It shares the database's settings
        (memory and threads, no external access, the lock), its views and its caches of the files
        read."""
        return BoundedConnection(self._connection.cursor(), self._seconds if seconds is None else seconds)

    def __getattr__(self, name: str) -> Any:
        # ``description``, ``sql`` (relations bind lazily; they run through execute), ``register``,
        # ``close``, ``interrupt`` ...: the connection's own.
        return getattr(self._connection, name)

    def __enter__(self) -> BoundedConnection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._connection.close()


def _list(values: list[str]) -> str:
    """A DuckDB list literal of strings."""
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _seconds_text(seconds: float) -> str:
    return f"{seconds:g}"


def connect(limits: Limits, *, readable: Iterable[Path] = (), temp_directory: Path | None = None,
            options: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """A bounded in-memory DuckDB connection (see the module's docstring).

    ``readable`` lists the files and folders its queries may read and write (a folder covers what
    is under it); everything else on disk is refused. ``temp_directory`` is where DuckDB spills
    when a query passes the memory limit (none: it cannot spill). ``options`` are further DuckDB
    settings of the caller's (``preserve_insertion_order`` ...), applied before the lock.
    """
    config: dict[str, Any] = {
        "memory_limit": limits.memory_limit,
        "threads": limits.threads,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        **(options or {}),
    }
    if temp_directory is not None:
        config["temp_directory"] = str(temp_directory)
    connection = duckdb.connect(config=config)
    try:
        files, folders = [], []
        for path in readable:
            # As the caller spells it and with links resolved: DuckDB compares the path of the query.
            for form in dict.fromkeys((path.absolute(), path.resolve())):
                if form.is_dir():
                    folders.append(str(form).rstrip("/") + "/")
                else:
                    files.append(str(form))
        # The allow-lists can only be set on a running database, and only while external access is on.
        # One call for all the statements: a sample read opens a connection per page view.
        statements = [f"SET allowed_directories = {_list(folders)}"] if folders else []
        statements += [f"SET allowed_paths = {_list(files)}"] if files else []
        connection.execute("; ".join([*statements, "SET enable_external_access = false",
                                      "SET lock_configuration = true"]))
    except BaseException:
        connection.close()
        raise
    return BoundedConnection(connection, limits.query_seconds)


def open_analytics(settings: Settings, *, readable: Iterable[Path] = (), interactive: bool = False,
                   temp_directory: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A bounded connection with the settings' limits (``interactive``: the short ones for pages)."""
    return connect(Limits.from_settings(settings, interactive=interactive), readable=readable,
                   temp_directory=temp_directory)
