"""Per-process cache of rendered search pages, keyed by the catalogue's generation.

The generation is the newest ``updated_at`` of any listing: every change that moves a count or
adds, removes or edits a product sets it (an index makes reading it one B-tree probe), so a key
that contains it can never serve a page from before such a change. Pages also expire after
``TTL_PAGES`` (60 s), because views, follows and transactions move ``popularity`` (the
"popular" sort and relevance ties) without touching ``updated_at``; on PostgreSQL after
``TTL_POSTGRESQL`` (10 s), because a transaction that commits after a newer one could hide
behind the newer generation.

Reading the generation costs a transaction and, for an ``async`` route, a hop to a worker
thread: more than the rest of a cached search. So the API may answer from the rendered-page
cache with the generation this process read last (:func:`cached_page`), while that reading is
younger than the refresh interval (setting ``search_refresh_seconds``, 1 s by default, like
Elasticsearch's ``refresh_interval``) and this process has committed no change to the listings
since (``Database.epoch``; counter bumps such as views do not count). Changes
made by other worker processes therefore show within the refresh interval, a process's own
changes at once. A busy worker renews the reading after half the interval, in the background
of one response (:func:`renewal`), so its searches do not all fall back to the database at
once when the reading expires.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from qianshu.core.db import Database

TTL_POSTGRESQL = 10.0
TTL_PAGES = 60.0
_TABLE = "catalog_listings"
_GENERATION_SQL = f"SELECT max(updated_at) FROM {_TABLE}"  # noqa: S608 - a constant
_MEMO = "catalog.generation"
_RENEWING = "catalog.generation.renewing"
_RENEWING_LOCK = threading.Lock()
log = logging.getLogger(__name__)


class ResultCache:
    """A bounded LRU map whose entries expire after a time to live given at each read.

    Each entry lives between 80 and 100 % of that time (chosen when it is stored), so pages
    filled together — after a restart, or by the same burst of traffic — do not all expire in
    the same second and fall on the database and the index at once.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[Any, ...], tuple[float, float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], ttl: float) -> Any:
        with self._lock:
            found = self._entries.get(key)
            if found is None or time.monotonic() - found[0] > ttl * found[1]:
                return None
            self._entries.move_to_end(key)
            return found[2]

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        share = random.uniform(0.8, 1.0)  # noqa: S311 - spreading expiries, not security
        with self._lock:
            self._entries[key] = (time.monotonic(), share, value)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


RENDERED_CACHE = ResultCache(size=1024)  # API responses (about 20 kB each), see search.search_rendered


def page_ttl(sqlite: bool) -> float:
    return TTL_PAGES if sqlite else TTL_POSTGRESQL


@dataclass(frozen=True)
class _Reading:
    generation: Any
    at: float  # time.monotonic()
    write_epoch: int  # Database.epoch("catalog_listings") when it was read


def _database(db: Session) -> tuple[str, bool]:
    """Which database a cache entry belongs to (one process may serve several, as the tests do),
    and whether it is SQLite."""
    database = db.info.get("database")
    if isinstance(database, Database):
        return database.url, database.is_sqlite
    return str(db.get_bind().engine.url), db.get_bind().dialect.name != "postgresql"


def _page_key(url: str, generation: Any, page: tuple[Any, ...], variant: tuple[Any, ...]) -> tuple[Any, ...]:
    return (url, generation, *page, variant)


def stored_page(db: Session, generation: Any, page: tuple[Any, ...], variant: tuple[Any, ...]) -> bytes | None:
    """The page rendered for ``page`` (the query without its text, its tokens) and ``variant``
    (language, base URL) at ``generation``, if still kept."""
    url, sqlite = _database(db)
    body: bytes | None = RENDERED_CACHE.get(_page_key(url, generation, page, variant), page_ttl(sqlite))
    return body


def store_page(db: Session, generation: Any, page: tuple[Any, ...], variant: tuple[Any, ...], body: bytes) -> None:
    RENDERED_CACHE.put(_page_key(_database(db)[0], generation, page, variant), body)


def read_generation(db: Session) -> Any:
    """The generation, read now (and remembered for :func:`cached_page`)."""
    database = db.info.get("database")
    epoch = database.epoch(_TABLE) if isinstance(database, Database) else 0
    # Plain SQL: this runs on every search, and the raw value is as good a key as a datetime.
    generation = db.connection().exec_driver_sql(_GENERATION_SQL).scalar()
    if isinstance(database, Database):
        database.memo[_MEMO] = _Reading(generation, time.monotonic(), epoch)
    return generation


def cached_page(database: Database, page: tuple[Any, ...], variant: tuple[Any, ...],
                refresh: float) -> bytes | None:
    """:func:`stored_page` without asking the database: at the generation this process read
    last, while that reading is still trusted (see the module docstring)."""
    reading: _Reading | None = database.memo.get(_MEMO)
    if (refresh <= 0 or reading is None or reading.write_epoch != database.epoch(_TABLE)
            or time.monotonic() - reading.at > refresh):
        return None
    body: bytes | None = RENDERED_CACHE.get(_page_key(database.url, reading.generation, page, variant),
                                            page_ttl(database.is_sqlite))
    return body


def renewal(database: Database, refresh: float) -> Callable[[], None] | None:
    """A task that renews this process's reading of the generation, for the one caller that
    should run it (after its response is sent): the reading is past half its interval and no
    renewal is under way. Busy workers thus keep answering from the cache instead of all
    asking the database at once when the reading expires."""
    reading: _Reading | None = database.memo.get(_MEMO)
    if refresh <= 0 or reading is None or time.monotonic() - reading.at < refresh / 2:
        return None
    with _RENEWING_LOCK:
        if database.memo.get(_RENEWING):
            return None
        database.memo[_RENEWING] = True

    def renew() -> None:
        try:
            with database.unit_of_work(write=False) as db:
                read_generation(db)
        except SQLAlchemyError:  # the next search reads it itself
            log.warning("could not renew the catalogue generation", exc_info=True)
        finally:
            database.memo.pop(_RENEWING, None)

    return renew


def clear() -> None:
    RENDERED_CACHE.clear()
