"""Bounded, thread-safe caches of what a product page shows that never changes once written.

A registration's normalised Parquet file is content-addressed (its SHA-256 names the blob), so
the sample rows read from it are keyed by that digest: a new version of the data is a new
registration with a new digest, and can never be answered from the old one's entry. The cache
holds the raw rows only; masking, permissions and the audit of personal data happen on every
request, after the cache (see ``catalog/product.py``).

Each process has its own caches (web workers share nothing, as on PostgreSQL they must not);
an entry costs a few kilobytes (at most ``SAMPLE_LIMIT`` rows), and the least recently used is
dropped beyond ``max_entries``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LruCache(Generic[V]):
    """A least-recently-used map of at most ``max_entries`` entries, safe across threads.

    ``get_or_load`` runs the loader outside the lock (two threads may both load a missing entry
    once; both get the same value, as the loaded data is immutable), so a slow load never blocks
    readers of other entries."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.enabled = True
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get_or_load(self, key: Hashable, load: Callable[[], V]) -> V:
        if not self.enabled:
            return load()
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
            self.misses += 1
        value = load()
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class PageCaches:
    """The caches behind product pages, one set per process."""

    def __init__(self) -> None:
        # parquet SHA-256 + row limit → (column names, rows), both as tuples: shared between
        # requests, so nobody may change them in place.
        self.samples: LruCache[tuple[tuple[str, ...], tuple[tuple[object, ...], ...]]] = LruCache(512)

    def clear(self) -> None:
        self.samples.clear()


page_caches = PageCaches()
