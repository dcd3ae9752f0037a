"""Product page views, counted in memory and written to the database together at most once per
``FLUSH_SECONDS`` per web process.

Counting each view with its own write transaction made every product page a write: on SQLite
every view queued for the one write lock behind uploads and pipelines, and on PostgreSQL views of
one product queued on its row. The count only feeds popularity (search ranking, "popular"
sorting), which already lags by seconds (``catalog/search_index.py``), so views are added up here
and written in one short transaction when a view arrives and the last write is older than
``FLUSH_SECONDS``, whenever the page writes anyway (the audit of a view of personal data), and
when the app stops. A process killed with SIGKILL loses the views it had not written yet (at
most those of its last ``FLUSH_SECONDS`` while products are being viewed).

The audit of personal data is not buffered: it is written with the view, or the page is not shown.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from qianshu.catalog import service
from qianshu.core.db import Database
from qianshu.core.errors import QianshuError

FLUSH_SECONDS = 1.0
log = logging.getLogger(__name__)


class ViewCounts:
    """Per-process views not yet written, per listing; safe across threads."""

    def __init__(self, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.flush_seconds = flush_seconds
        self._pending: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._flushing = False

    def note(self, listing_id: int) -> bool:
        """Count a view; True when a write is due (of many requests at once, one is told so)."""
        with self._lock:
            self._pending[listing_id] += 1
            due = not self._flushing and time.monotonic() - self._last_flush >= self.flush_seconds
            if due:
                self._flushing = True
            return due

    def take(self) -> Counter[int]:
        """The views waiting, now the caller's to write (``give_back`` them if that fails)."""
        with self._lock:
            taken, self._pending = self._pending, Counter()
            self._last_flush = time.monotonic()
            self._flushing = False
            return taken

    def give_back(self, counts: Counter[int]) -> None:
        with self._lock:
            self._pending.update(counts)

    def flush(self, database: Database) -> int:
        """Write the waiting views in a transaction of their own; returns how many. A database
        that is busy or unreachable keeps them for the next write."""
        counts = self.take()
        if not counts:
            return 0
        try:
            with database.unit_of_work() as db:
                write(db, counts)
        except (SQLAlchemyError, QianshuError):
            log.warning("could not record product views; will retry", exc_info=True)
            self.give_back(counts)
            return 0
        return sum(counts.values())

    def __len__(self) -> int:
        with self._lock:
            return sum(self._pending.values())


def write(db: Session, counts: Counter[int]) -> None:
    """Add ``counts`` to the listings' views in ``db``'s transaction."""
    for listing_id, views in sorted(counts.items()):  # one order: no deadlock between workers
        service.record_views(db, listing_id, views)


_creating = threading.Lock()


def for_app(state: Any) -> ViewCounts:
    """The app's view counts (made on first use; the app flushes them when it stops)."""
    counts: ViewCounts | None = getattr(state, "view_counts", None)
    if counts is None:
        with _creating:
            counts = getattr(state, "view_counts", None)
            if counts is None:
                counts = state.view_counts = ViewCounts()
    return counts
