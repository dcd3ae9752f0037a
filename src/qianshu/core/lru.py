"""A bounded least-recently-used map, safe across threads: for per-process caches of values that do
not change once made (the catalogue's product samples, the portal's rendered fragments)."""

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
