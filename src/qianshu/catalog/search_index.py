"""The listed products as an in-memory search index (tantivy): text, filters, facets, sorts.

Why an index beside the database: with SQLite FTS5 or PostgreSQL tsvector, a search that no
cache had seen cost 28 ms on average and up to 240 ms at 100,000 listings (three passes over
the matches: count, ``GROUP BY`` facets, ranked page), so a long tail of distinct searches
ran at 80 req/s on two cores. The same searches cost 1-3 ms here, facet counts are exact,
and both databases give the same results, because both feed the same index.

One index per worker process and database (in ``Database.memo``), built at the first search
(or by :func:`warm_up` when the app starts), then kept in step with the database:

- at each search, if the catalogue's generation (the newest ``updated_at``) moved, the listings
  changed since the last sync are read and replaced. The read reaches ``LATE_COMMIT_SECONDS``
  further back than the newest ``updated_at`` seen, and on PostgreSQL it also runs every
  ``LATE_COMMIT_SECONDS``, because a transaction may commit after a newer one;
- every ``COUNTERS_SECONDS``, the products whose popularity moved since (views, follows and
  transactions move it without touching ``updated_at``, but set ``counters_at``) are read again;
- every ``RECONCILE_SECONDS``, the version (``updated_at``, ``counters_at``) and status of every
  listing is compared with the index, and what differs is read again: whatever the two steps
  above missed (a transaction that committed very late, a clock set back) is repaired.

A search whose transaction saw an older generation than the index already reflects (two
requests racing on SQLite's snapshots) leaves the index alone instead of rolling it back.

Text: the tokens of :mod:`qianshu.catalog.tokens`, stored with each listing in
``search_title`` / ``search_body``, split on spaces. Every query token must occur (AND).
Relevance is BM25 over the title (weight 4) and the body, as SQLite's
``bm25(catalog_fts, 4.0, 1.0)`` was; equal scores go to the more popular product, then to the
newer one (the ranked hits are fetched until the page's last score is no longer tied, and
ordered in Python). The other sorts are one packed unsigned key each (value << 31 | tie-break
by id), because tantivy orders by one fast field; prices above ``VALUE_CAP`` fen (¥42.9
million) sort as equal among themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import tantivy
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from qianshu.catalog.models import Listing, delivery_modes_of
from qianshu.catalog.pricing import price_bucket
from qianshu.core.db import Database

log = logging.getLogger(__name__)

LATE_COMMIT_SECONDS = 10.0
COUNTERS_SECONDS = 10.0
RECONCILE_SECONDS = 300.0
ID_BITS = 31  # listing ids below 2**31 (the tie-break part of the packed keys)
ID_MASK = (1 << ID_BITS) - 1
VALUE_CAP = (1 << 32) - 1  # sort values above this (prices in fen beyond ¥42.9 million) sort as equal
TITLE_WEIGHT = 4.0
FACET_FIELDS = ("industry", "region", "data_type", "classification", "frequency", "price", "delivery")
WRITER_HEAP = 64 * 1024 * 1024  # tantivy's indexing buffer (it flushes a segment when full)
_MEMO = "catalog.search_index"
_MEMO_LOCK = threading.Lock()
_COLUMNS = (Listing.id, Listing.status, Listing.search_title, Listing.search_body, Listing.industry_section,
            Listing.industry_code, Listing.prefecture_code, Listing.division_code, Listing.data_type,
            Listing.classification, Listing.update_frequency, Listing.delivery_mask, Listing.min_price_fen,
            Listing.popularity, Listing.listed_at, Listing.created_at, Listing.updated_at, Listing.counters_at)
_KEYWORD_FIELDS = ("industry", "industry_code", "prefecture", "division", "data_type", "classification",
                   "frequency", "price", "delivery")
SORT_FIELDS = ("newest", "popular", "price_asc", "price_desc")  # each a fast field of the same name


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("id", indexed=True, fast=True)  # i64: delete_documents_by_term needs it
    builder.add_text_field("title", tokenizer_name="whitespace", index_option="freq")
    builder.add_text_field("body", tokenizer_name="whitespace", index_option="freq")
    for name in _KEYWORD_FIELDS:
        builder.add_text_field(name, tokenizer_name="raw", fast=True, index_option="basic")
    for name in SORT_FIELDS:
        builder.add_unsigned_field(name, fast=True)
    return builder.build()


def _pack(value: int, tie: int) -> int:
    return (max(0, min(value, VALUE_CAP)) << ID_BITS) | (tie & ID_MASK)


def sort_keys(listing_id: int, popularity: int, price_fen: int | None, listed: datetime | None) -> dict[str, int]:
    """The packed key of each sort (larger first, except ``price_asc``): ties go to the newer id,
    products asking for a quote come last both ways."""
    seconds = int(listed.timestamp()) if listed else 0
    low_id = ID_MASK - listing_id  # ascending order, newer id first
    capped = None if price_fen is None else min(max(price_fen, 0), VALUE_CAP - 1)
    return {
        "newest": _pack(seconds, listing_id),
        "popular": _pack(popularity, listing_id),
        "price_asc": _pack(VALUE_CAP if capped is None else capped, low_id),
        "price_desc": _pack(0 if capped is None else capped + 1, listing_id),
    }


@dataclass
class IndexHits:
    total: int
    ids: list[int]
    facets: dict[str, list[tuple[str, int]]]  # facet → (value, count), most frequent first


class ListingIndex:
    """See the module docstring. Thread-safe: syncs take a lock, searches use a snapshot."""

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite
        self.schema = _schema()
        self.index = tantivy.Index(self.schema)  # in memory
        self._writer = self.index.writer(WRITER_HEAP, 1)
        self._searcher = self.index.searcher()
        self._lock = threading.Lock()
        self._built = False
        self._generation: Any = None
        self._upto: datetime | None = None  # newest updated_at read so far
        self._counters_upto: datetime | None = None  # newest counters_at read so far
        self._synced = self._counted = self._reconciled = time.monotonic()
        self._versions: dict[int, tuple[Any, Any]] = {}  # id → (updated_at, counters_at) of the indexed products

    # --- keeping in step with the database ---------------------------------------------------

    def ensure_current(self, db: Session, generation: Any) -> None:
        if not self._due(generation):
            return
        with self._lock:
            if not self._due(generation):
                return
            if self._built and _older(generation, self._generation):
                return  # this transaction saw less than the index already holds
            now = time.monotonic()
            if not self._built:
                self._rebuild(db)
                self._synced = self._counted = self._reconciled = now
            else:
                changed = 0
                if generation != self._generation or (not self.sqlite and now - self._synced > LATE_COMMIT_SECONDS):
                    changed += self._read_since(db, Listing.updated_at, self._upto)
                    self._synced = now
                if now - self._counted > COUNTERS_SECONDS:
                    changed += self._read_since(db, Listing.counters_at, self._counters_upto)
                    self._counted = now
                if now - self._reconciled > RECONCILE_SECONDS:
                    changed += self._reconcile(db)
                    self._reconciled = now
                if changed:
                    self._commit()
            self._generation = generation

    def _due(self, generation: Any) -> bool:
        now = time.monotonic()
        return (not self._built or generation != self._generation or now - self._counted > COUNTERS_SECONDS
                or now - self._reconciled > RECONCILE_SECONDS
                or (not self.sqlite and now - self._synced > LATE_COMMIT_SECONDS))

    def _rebuild(self, db: Session) -> None:
        started = time.perf_counter()
        self._writer.delete_all_documents()
        self._versions.clear()
        # Streamed in batches: 100,000 products held as Python rows at once cost 150 MB more.
        rows = db.execute(select(*_COLUMNS).where(Listing.status == "listed").order_by(Listing.id)
                          .execution_options(yield_per=2000))
        count = self._replace(rows)
        self._commit()
        self._built = True
        log.info("catalogue search index built: %d products in %.1f s", count, time.perf_counter() - started)

    def _read_since(self, db: Session, column: Any, since: datetime | None) -> int:
        """Replace the listings whose ``column`` is at or after ``since`` less the late-commit margin."""
        query = select(*_COLUMNS).where(column.is_not(None))
        if since is not None:
            query = query.where(column >= since - timedelta(seconds=LATE_COMMIT_SECONDS))
        return self._replace(db.execute(query))

    def _reconcile(self, db: Session) -> int:
        """Compare every listing's version and status with the index; re-read what differs."""
        listed: set[int] = set()
        differs: list[int] = []
        for listing_id, status, updated_at, counters_at in db.execute(
                select(Listing.id, Listing.status, Listing.updated_at, Listing.counters_at)):
            if status == "listed":
                listed.add(listing_id)
                if self._versions.get(listing_id) != (updated_at, counters_at):
                    differs.append(listing_id)
        gone = [i for i in self._versions if i not in listed]
        for listing_id in gone:  # rows that left the table (none do in production; a safeguard)
            self._writer.delete_documents_by_term("id", listing_id)
            del self._versions[listing_id]
        changed = len(gone)
        for start in range(0, len(differs), 500):
            changed += self._replace(db.execute(select(*_COLUMNS).where(Listing.id.in_(differs[start:start + 500]))))
        if changed:
            log.warning("catalogue search index repaired %d products that the incremental syncs missed", changed)
        return changed

    def _replace(self, rows: Iterable[Any]) -> int:  # rows of _COLUMNS
        """Put the rows' current state into the index; returns how many products changed."""
        changed = 0
        for row in rows:
            if row.updated_at is not None and (self._upto is None or row.updated_at > self._upto):
                self._upto = row.updated_at
            if row.counters_at is not None and (self._counters_upto is None or row.counters_at > self._counters_upto):
                self._counters_upto = row.counters_at
            version = (row.updated_at, row.counters_at)
            known = self._versions.get(row.id)
            if row.status == "listed" and known == version:
                continue  # read again (the late-commit margin) but unchanged
            if known is not None:
                self._writer.delete_documents_by_term("id", row.id)
                del self._versions[row.id]
                changed += 1
            if row.status == "listed":
                self._writer.add_document(self._document(row))
                self._versions[row.id] = version
                changed += 1
        return changed

    def _document(self, row: Row[Any]) -> tantivy.Document:
        doc = tantivy.Document()
        doc.add_integer("id", row.id)
        doc.add_text("title", row.search_title or "")
        doc.add_text("body", row.search_body or "")
        keywords = {"industry": row.industry_section, "industry_code": row.industry_code,
                    "prefecture": row.prefecture_code, "division": row.division_code, "data_type": row.data_type,
                    "classification": row.classification, "frequency": row.update_frequency,
                    "price": price_bucket(row.min_price_fen)}
        for name, value in keywords.items():
            if value:
                doc.add_text(name, value)
        for mode in delivery_modes_of(int(row.delivery_mask or 0)):
            doc.add_text("delivery", mode)
        keys = sort_keys(row.id, int(row.popularity or 0), row.min_price_fen, row.listed_at or row.created_at)
        for name, value in keys.items():
            doc.add_unsigned(name, value)
        return doc

    def _commit(self) -> None:
        self._writer.commit()
        self.index.reload()
        self._searcher = self.index.searcher()

    # --- searching ------------------------------------------------------------------------------

    def search(self, *, tokens: Sequence[str], filters: dict[str, str], sort: str, offset: int, limit: int,
               facet_region: str) -> IndexHits:
        """``filters``: index field → value (all must hold). ``sort``: ``relevance`` or a key of
        ``SORT_FIELDS``. ``facet_region``: ``prefecture`` or ``division``, the level of the
        region facet."""
        searcher = self._searcher  # a snapshot: a sync meanwhile does not change it
        query = self._query(tokens, filters)
        if sort in SORT_FIELDS:
            found = searcher.search(query, limit, count=True, order_by_field=sort, offset=offset,
                                    order=tantivy.Order.Asc if sort == "price_asc" else tantivy.Order.Desc)
        elif tokens:
            return self._ranked(searcher, query, offset, limit, facet_region)
        else:  # relevance without text: the most popular first
            found = searcher.search(query, limit, count=True, order_by_field="popular", offset=offset)
        addresses = [address for _key, address in found.hits]
        return IndexHits(_count(found), self._ids(searcher, addresses), self._facets(searcher, query, facet_region))

    def _ranked(self, searcher: tantivy.Searcher, query: tantivy.Query, offset: int, limit: int,
                facet_region: str) -> IndexHits:
        """BM25, then popularity, then the newer id: tantivy ranks by score only, so the hits are
        fetched until every hit tied with the page's last one is in, and ordered here."""
        wanted = offset + limit
        fetch = wanted + max(limit, 16)
        while True:
            found = searcher.search(query, fetch, count=True)
            hits = found.hits
            total = _count(found)
            if len(hits) <= wanted or fetch >= total or hits[-1][0] != hits[wanted - 1][0]:
                break
            fetch *= 2
        addresses = [address for _score, address in hits]
        popular = searcher.fast_field_values("popular", addresses) if addresses else []
        order = sorted(range(len(hits)), key=lambda i: (-hits[i][0], -int(popular[i] or 0)))
        page = [addresses[i] for i in order[offset:wanted]]
        return IndexHits(total, self._ids(searcher, page), self._facets(searcher, query, facet_region))

    @staticmethod
    def _ids(searcher: tantivy.Searcher, addresses: list[tantivy.DocAddress]) -> list[int]:
        return [int(v) for v in searcher.fast_field_values("id", addresses) if v is not None] if addresses else []

    def _query(self, tokens: Sequence[str], filters: dict[str, str]) -> tantivy.Query:
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for token in tokens:
            in_title = tantivy.Query.boost_query(
                tantivy.Query.term_query(self.schema, "title", token, index_option="freq"), TITLE_WEIGHT)
            in_body = tantivy.Query.term_query(self.schema, "body", token, index_option="freq")
            clauses.append((tantivy.Occur.Must, tantivy.Query.boolean_query(
                [(tantivy.Occur.Should, in_title), (tantivy.Occur.Should, in_body)])))
        for field, value in filters.items():
            # A filter narrows without scoring: a constant 0 leaves the text's ranking alone.
            term = tantivy.Query.term_query(self.schema, field, value, index_option="basic")
            clauses.append((tantivy.Occur.Must, tantivy.Query.const_score_query(term, 0.0)))
        return tantivy.Query.boolean_query(clauses) if clauses else tantivy.Query.all_query()

    @staticmethod
    def _facets(searcher: tantivy.Searcher, query: tantivy.Query,
                facet_region: str) -> dict[str, list[tuple[str, int]]]:
        fields = {name: (facet_region if name == "region" else name) for name in FACET_FIELDS}
        aggregations = {name: {"terms": {"field": field, "size": 1000}} for name, field in fields.items()}
        result = searcher.aggregate(query, aggregations)
        return {name: [(str(b["key"]), int(b["doc_count"])) for b in result.get(name, {}).get("buckets", [])]
                for name in FACET_FIELDS}


def _count(found: tantivy.SearchResult) -> int:
    return int(found.count or 0)  # type: ignore[attr-defined]  # the stub omits it; present since 0.20


def _older(generation: Any, than: Any) -> bool:
    """Generations are comparable (datetimes, or SQLite's fixed-width timestamp text)."""
    return generation is not None and than is not None and generation < than


def listing_index(db: Session) -> ListingIndex:
    """This process's index of the session's database (created empty; ``ensure_current`` fills it)."""
    database = db.info.get("database")
    memo: dict[str, Any] = database.memo if isinstance(database, Database) else db.info
    found: ListingIndex | None = memo.get(_MEMO)
    if found is None:
        with _MEMO_LOCK:
            found = memo.get(_MEMO)
            if found is None:
                found = memo[_MEMO] = ListingIndex(sqlite=db.get_bind().dialect.name != "postgresql")
    return found


def warm_up(database: Database) -> None:
    """Build the index before the first search needs it (called on a thread when the app starts)."""
    from qianshu.catalog.search_cache import read_generation

    try:
        with database.unit_of_work(write=False) as db:
            listing_index(db).ensure_current(db, read_generation(db))
    except Exception:  # the first search will try again; a warm-up must not stop the app
        log.warning("catalogue search index warm-up failed", exc_info=True)
