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

from qianshu.core.lru import LruCache

__all__ = ["LruCache", "PageCaches", "page_caches"]


class PageCaches:
    """The caches behind product pages, one set per process."""

    def __init__(self) -> None:
        # parquet SHA-256 + row limit → (column names, rows), both as tuples: shared between
        # requests, so nobody may change them in place.
        self.samples: LruCache[tuple[tuple[str, ...], tuple[tuple[object, ...], ...]]] = LruCache(512)

    def clear(self) -> None:
        self.samples.clear()


page_caches = PageCaches()
