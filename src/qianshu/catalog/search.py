"""Search of the public catalogue: full text in Chinese and English, facets, sorting, pages.

One function, :func:`search_listings`, for the portal and the API, on SQLite (FTS5 + bm25)
and PostgreSQL (GIN over a 'simple' tsvector + ts_rank). The text is matched on the
pre-tokenised columns (:mod:`qianshu.catalog.tokens`), so both engines see the same tokens
and return the same set of products; only the relevance scores differ.

Facet counts are computed with ``GROUP BY`` over the filtered set in one statement (a CTE
that both engines materialise once), including the facet's own filter. When a text query
matches more than ``FACET_EXACT_LIMIT`` products, they are estimated from the
``FACET_EXACT_LIMIT`` matches with the lowest ids and the result says so
(``facets_exact=False``); the total is always exact.

Cost at 100,000 listings: the page is ranked over the narrow covering index
``ix_catalog_listings_search`` (bm25 on SQLite), only the page's rows are loaded; the total is
one ``count(*)`` over the same index. Totals, facets and page ids are cached per process and
keyed by the catalogue's generation (see :class:`_Cache`).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    bindparam,
    case,
    cast,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from qianshu.catalog.models import DATA_TYPES, DELIVERY_MODES, Demand, Listing
from qianshu.catalog.pricing import PRICE_BUCKETS
from qianshu.catalog.tokens import fts5_match, query_tokens
from qianshu.core.errors import InvalidInput
from qianshu.core.identifiers import guizhou_divisions

SORTS = ("relevance", "newest", "price_asc", "price_desc", "popular")
CLASSIFICATIONS = ("general", "important", "core")
FREQUENCIES = ("once", "realtime", "daily", "weekly", "monthly", "quarterly", "yearly")
MAX_QUERY_LENGTH = 500
MAX_PER_PAGE = 100
MAX_PAGE = 10_000
# Above this many text matches, facet counts are estimated from this many matches (the lowest ids).
FACET_EXACT_LIMIT = 10_000
_INDUSTRY = re.compile(r"^[A-T](\d{2})?$")


@dataclass(frozen=True)
class SearchQuery:
    q: str = ""
    industry: str = ""  # a GB/T 4754 section letter ("G") or division ("G54")
    region: str = ""  # a division code: province, prefecture or county
    data_type: str = ""
    delivery: str = ""
    price: str = ""  # a key of PRICE_BUCKETS, or "quote"
    classification: str = ""
    frequency: str = ""
    sort: str = "relevance"
    page: int = 1
    per_page: int = 20

    def validated(self) -> SearchQuery:
        """Refuse malformed parameters with a 422 naming the field; well-formed but unknown
        values (an industry nobody lists) simply match nothing."""
        checks: list[tuple[str, str, tuple[str, ...]]] = [
            ("data_type", self.data_type, DATA_TYPES),
            ("delivery", self.delivery, DELIVERY_MODES),
            ("price", self.price, (*PRICE_BUCKETS, "quote")),
            ("classification", self.classification, CLASSIFICATIONS),
            ("frequency", self.frequency, FREQUENCIES),
            ("sort", self.sort, SORTS),
        ]
        for name, value, allowed in checks:
            if value and value not in allowed:
                raise InvalidInput("{field} must be one of: {expected}.", field=name, expected=", ".join(allowed))
        if len(self.q) > MAX_QUERY_LENGTH:
            raise InvalidInput("{field} is too long (at most {max} characters).", field="q", max=MAX_QUERY_LENGTH)
        if self.industry and not _INDUSTRY.match(self.industry):
            raise InvalidInput("{field} is not in the expected format.", field="industry")
        if self.region and not (len(self.region) == 6 and self.region.isascii() and self.region.isdigit()):
            raise InvalidInput("{field} is not in the expected format.", field="region")
        if not 1 <= self.page <= MAX_PAGE:
            raise (
                InvalidInput("{field} must be at least {min}.", field="page", min=1)
                if self.page < 1
                else InvalidInput("{field} must be at most {max}.", field="page", max=MAX_PAGE)
            )
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise InvalidInput("{field} must be at most {max}.", field="per_page", max=MAX_PER_PAGE)
        return self


@dataclass
class FacetValue:
    value: str
    count: int
    selected: bool = False


@dataclass
class SearchResult:
    query: SearchQuery
    items: list[Listing]
    total: int
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    facets_exact: bool = True  # False: counts estimated from FACET_EXACT_LIMIT matches (see module doc)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))


def region_level(code: str) -> str:
    if code.endswith("0000"):
        return "province"
    return "prefecture" if code.endswith("00") else "county"


def _text_condition(
    db: Session, model: type[Listing] | type[Demand], tokens: list[str]
) -> tuple[ColumnElement[bool], ColumnElement[Any]]:
    """(match condition, relevance where larger is better) for the dialect in use."""
    if db.get_bind().dialect.name == "postgresql":
        simple: ColumnElement[Any] = literal_column("'simple'")
        # The same expression as the GIN index of migration 0004 (PostgreSQL matches expression trees).
        vector = func.setweight(func.to_tsvector(simple, model.search_title), literal_column("'A'")).op("||")(
            func.to_tsvector(simple, model.search_body)
        )
        tsquery = func.plainto_tsquery(simple, bindparam("tsq", " ".join(tokens), type_=String))
        return vector.op("@@")(tsquery), func.ts_rank(vector, tsquery)
    fts = "catalog_fts" if model is Listing else "catalog_fts_demands"
    match: Select[Any] = (
        select(column("rowid")).select_from(table(fts)).where(text(f"{fts} MATCH :m").bindparams(m=fts5_match(tokens)))
    )
    return model.id.in_(match), literal(0)


def _conditions(query: SearchQuery) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [Listing.status == "listed"]
    if query.industry:
        conds.append(
            Listing.industry_section == query.industry
            if len(query.industry) == 1
            else Listing.industry_code == query.industry
        )
    if query.region:
        level = region_level(query.region)
        if level == "prefecture":
            conds.append(Listing.prefecture_code == query.region)
        elif level == "county":
            conds.append(Listing.division_code == query.region)
        elif query.region != "520000":
            conds.append(literal(False))  # outside Guizhou: nothing is listed there
    if query.data_type:
        conds.append(Listing.data_type == query.data_type)
    if query.delivery:
        conds.append(Listing.delivery_mask.op("&")(1 << DELIVERY_MODES.index(query.delivery)) != 0)
    if query.price == "quote":
        conds.append(Listing.min_price_fen.is_(None))
    elif query.price:
        low, high = PRICE_BUCKETS[query.price]
        conds.append(Listing.min_price_fen >= low)
        if high is not None:
            conds.append(Listing.min_price_fen < high)
    if query.classification:
        conds.append(Listing.classification == query.classification)
    if query.frequency:
        conds.append(Listing.update_frequency == query.frequency)
    return conds


def _price_bucket() -> ColumnElement[str]:
    whens: list[tuple[ColumnElement[bool], Any]] = [(Listing.min_price_fen.is_(None), literal("quote"))]
    for key, (low, high) in PRICE_BUCKETS.items():
        cond = Listing.min_price_fen >= low if high is None else Listing.min_price_fen < high
        whens.append((cond, literal(key)))
    return case(*whens, else_=literal("quote"))


def _facets(
    db: Session, query: SearchQuery, conds: list[ColumnElement[bool]], total: int, sample: bool
) -> dict[str, list[FacetValue]]:
    """Facet counts over the matches; with ``sample``, over the ``FACET_EXACT_LIMIT`` matches
    with the lowest ids, scaled to ``total`` (rounded; a value seen at all counts at least 1)."""
    region_col = (
        Listing.division_code if query.region and region_level(query.region) != "province" else Listing.prefecture_code
    )
    rows = select(
        Listing.industry_section.label("industry"),
        region_col.label("region"),
        Listing.data_type.label("data_type"),
        Listing.classification.label("classification"),
        Listing.update_frequency.label("frequency"),
        _price_bucket().label("price"),
        Listing.delivery_mask.label("mask"),
    ).where(*conds)
    if sample:
        rows = rows.order_by(Listing.id).limit(FACET_EXACT_LIMIT)
    matched = rows.cte("matched")
    parts: list[Select[Any]] = [
        select(literal(name).label("facet"), matched.c[name].label("value"), func.count().label("n")).group_by(
            matched.c[name]
        )
        for name in ("industry", "region", "data_type", "classification", "frequency", "price")
    ]
    parts.append(
        select(  # type: ignore[arg-type]
            literal("delivery").label("facet"), cast(matched.c.mask, String).label("value"), func.count().label("n")
        ).group_by(matched.c.mask)
    )
    facets: dict[str, list[FacetValue]] = {
        k: [] for k in ("industry", "region", "data_type", "delivery", "price", "classification", "frequency")
    }
    delivery_counts = dict.fromkeys(DELIVERY_MODES, 0)
    scale = total / FACET_EXACT_LIMIT if sample else 1.0
    for facet, value, n in db.execute(union_all(*parts)):
        count = max(1, round(int(n) * scale)) if sample else int(n)
        if facet == "delivery":
            for i, mode in enumerate(DELIVERY_MODES):
                if int(value or 0) & (1 << i):
                    delivery_counts[mode] += int(n)
        elif value not in (None, ""):
            facets[facet].append(FacetValue(str(value), count))
    facets["delivery"] = [
        FacetValue(m, max(1, round(n * scale)) if sample else n) for m, n in delivery_counts.items() if n
    ]
    selected = {
        "industry": query.industry[:1],
        "region": query.region,
        "data_type": query.data_type,
        "delivery": query.delivery,
        "price": query.price,
        "classification": query.classification,
        "frequency": query.frequency,
    }
    for name, values in facets.items():
        values.sort(key=lambda v: (-v.count, v.value))
        for v in values:
            v.selected = v.value == selected[name]
    if query.region and region_level(query.region) != "province":
        known = guizhou_divisions()
        facets["region"] = [v for v in facets["region"] if v.value in known]
    return facets


class _Cache:
    """Results of recent searches (totals, facet counts, page ids), keyed by the catalogue's generation.

    The generation is the newest ``updated_at`` of any listing (every change that moves a
    count or adds, removes or edits a product sets it; an index makes it one B-tree probe),
    so such a change is seen by the next search. Entries also expire after a time to live:

    - PostgreSQL, ``TTL_POSTGRESQL`` (10 s): a transaction that commits after a newer one could
      otherwise hide behind the newer generation.
    - SQLite (one writer, so the generation is exact): counts and facets after ``TTL_SQLITE``
      (bounding memory only); page ids after ``TTL_PAGES_SQLITE`` (60 s), because views,
      follows and transactions move ``popularity`` (the "popular" sort and relevance ties)
      without touching ``updated_at``.

    ``search_listings`` reads the page's rows fresh (only those still listed);
    ``search_rendered`` (the API) also caches the rendered page for the pages' time to live.
    """

    TTL_POSTGRESQL = 10.0
    TTL_SQLITE = 600.0
    TTL_PAGES_SQLITE = 60.0
    SIZE = 4096

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[Any, ...], tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], ttl: float) -> Any:
        with self._lock:
            found = self._entries.get(key)
            if found is None or time.monotonic() - found[0] > ttl:
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), value)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


COUNT_CACHE = _Cache()  # (total, facets or None, facets exact) per query text and filters
PAGE_CACHE = _Cache()  # the ids of one page per query, filters, sort and page
RENDERED_CACHE = _Cache(size=1024)  # API responses (about 20 kB each), see search_rendered


def _fts_join(stmt: Select[Any], conds: list[ColumnElement[bool]], fts_match: str) -> Select[Any]:
    """SQLite: read the FTS doclist once and probe the covering index per match (an ``IN``
    list would first build a temporary table). ``conds[-1]`` is the text condition it replaces."""
    fts = table("catalog_fts", column("rowid"))
    return (
        stmt.select_from(fts)
        .join(Listing, Listing.id == fts.c.rowid)
        .where(*conds[:-1], text("catalog_fts MATCH :m").bindparams(m=fts_match))
    )


def _count(db: Session, conds: list[ColumnElement[bool]], fts_match: str | None) -> int:
    if fts_match:
        return int(db.scalar(_fts_join(select(func.count()), conds, fts_match)) or 0)
    return int(db.scalar(select(func.count()).select_from(Listing).where(*conds)) or 0)


def _counts(
    db: Session,
    query: SearchQuery,
    conds: list[ColumnElement[bool]],
    fts_match: str | None,
    key: tuple[Any, ...],
    with_facets: bool,
    ttl: float,
) -> tuple[int, dict[str, list[FacetValue]], bool]:
    cached = COUNT_CACHE.get(key, ttl)
    if cached is None or (with_facets and cached[1] is None):
        total = cached[0] if cached else _count(db, conds, fts_match)
        facets = None
        sample = bool(query.q) and total > FACET_EXACT_LIMIT
        if with_facets:
            facets = _facets(db, query, conds, total, sample)
        cached = (total, facets, not sample)
        COUNT_CACHE.put(key, cached)
    return _from_cache(cached, with_facets)


def _from_cache(cached: Any, with_facets: bool) -> tuple[int, dict[str, list[FacetValue]], bool]:
    total, facets, exact = cached
    if not with_facets or facets is None:
        return total, {}, True
    copy = {name: [FacetValue(v.value, v.count, v.selected) for v in values] for name, values in facets.items()}
    return total, copy, exact


def _order(query: SearchQuery, rank: ColumnElement[Any] | None, sqlite: bool) -> list[Any]:
    tiebreak = [Listing.popularity.desc(), Listing.id.desc()]
    if query.sort == "newest":
        return [Listing.listed_at.desc(), Listing.id.desc()]
    if query.sort == "price_asc":
        return [Listing.min_price_fen.asc().nulls_last(), Listing.id.desc()]
    if query.sort == "price_desc":
        return [Listing.min_price_fen.desc().nulls_last(), Listing.id.desc()]
    if query.sort == "relevance" and rank is not None:
        return [rank, *tiebreak] if sqlite else [rank.desc(), *tiebreak]
    return tiebreak


def _page_ids(
    db: Session,
    query: SearchQuery,
    conds: list[ColumnElement[bool]],
    fts_match: str | None,
    rank: ColumnElement[Any] | None,
) -> list[int]:
    """The ids of the requested page, in order (ranking reads the covering index, not the rows)."""
    sqlite = db.get_bind().dialect.name != "postgresql"
    if fts_match and query.sort == "relevance":
        stmt = _fts_join(select(Listing.id), conds, fts_match).order_by(
            literal_column("bm25(catalog_fts, 4.0, 1.0)"), *_order(query, None, sqlite)
        )
    else:
        stmt = select(Listing.id).where(*conds).order_by(*_order(query, rank, sqlite))
    return list(db.scalars(stmt.limit(query.per_page).offset((query.page - 1) * query.per_page)))


@dataclass
class _Resolved:
    """A search with its total, facets and page ids known (from the cache or just computed)."""

    query: SearchQuery
    tokens: list[str]
    page_key: tuple[Any, ...]
    page_ttl: float
    total: int
    facets: dict[str, list[FacetValue]]
    exact: bool
    ids: list[int]

    def load(self, db: Session) -> SearchResult:
        """The page's rows, read now (and only those still listed), in the page's order."""
        items: list[Listing] = []
        if self.ids:
            rows = db.scalars(select(Listing).where(Listing.id.in_(self.ids), Listing.status == "listed"))
            by_id = {x.id: x for x in rows}
            items = [by_id[i] for i in self.ids if i in by_id]
        return SearchResult(self.query, items, self.total, self.facets, self.tokens, self.exact)


_GENERATION = "SELECT max(updated_at) FROM catalog_listings"


def _resolve(db: Session, query: SearchQuery, with_facets: bool) -> _Resolved | None:
    """None when the query has text but no searchable token (nothing can match)."""
    query = query.validated()
    tokens = query_tokens(query.q)
    if query.q.strip() and not tokens:
        return None
    sqlite = db.get_bind().dialect.name != "postgresql"
    # Plain SQL: this runs on every search, and the raw value is as good a key as a datetime.
    generation = db.connection().exec_driver_sql(_GENERATION).scalar()
    base_key = (str(db.get_bind().engine.url), generation, tuple(tokens))
    count_key = (*base_key, replace(query, q="", sort="", page=1, per_page=1))
    page_key = (*base_key, replace(query, q=""))
    ttl = _Cache.TTL_SQLITE if sqlite else _Cache.TTL_POSTGRESQL
    page_ttl = _Cache.TTL_PAGES_SQLITE if sqlite else _Cache.TTL_POSTGRESQL
    cached = COUNT_CACHE.get(count_key, ttl)
    ids: list[int] | None = PAGE_CACHE.get(page_key, page_ttl)
    if cached is not None and (cached[1] is not None or not with_facets) and ids is not None:
        total, facets, exact = _from_cache(cached, with_facets)
    else:
        conds = _conditions(query)
        rank: ColumnElement[Any] | None = None
        fts_match: str | None = None
        if tokens:
            cond, rank = _text_condition(db, Listing, tokens)
            conds.append(cond)
            fts_match = fts5_match(tokens) if sqlite else None
        total, facets, exact = _counts(db, query, conds, fts_match, count_key, with_facets, ttl)
        if ids is None:
            ids = _page_ids(db, query, conds, fts_match, rank) if (query.page - 1) * query.per_page < total else []
            PAGE_CACHE.put(page_key, ids)
    return _Resolved(query, tokens, page_key, page_ttl, total, facets, exact, ids)


def search_listings(db: Session, query: SearchQuery, *, with_facets: bool = True) -> SearchResult:
    resolved = _resolve(db, query, with_facets)
    if resolved is None:  # only punctuation, emoji or operators: nothing can match
        return SearchResult(query, [], 0, {}, [])
    return resolved.load(db)


def search_rendered(
    db: Session, query: SearchQuery, variant: tuple[Any, ...], render: Callable[[SearchResult], bytes]
) -> bytes:
    """``render(search_listings(db, query))``, cached like the page ids: keyed by the generation
    and ``variant`` (language, base URL) and kept ``page_ttl``. Counters shown with each product
    (views, followers, popularity) do not move the generation, so they may lag by up to that."""
    resolved = _resolve(db, query, True)
    if resolved is None:
        return render(SearchResult(query.validated(), [], 0, {}, []))
    key = (*resolved.page_key, variant)
    body: bytes | None = RENDERED_CACHE.get(key, resolved.page_ttl)
    if body is None:
        body = render(resolved.load(db))
        RENDERED_CACHE.put(key, body)
    return body


@dataclass(frozen=True)
class DemandQuery:
    q: str = ""
    industry: str = ""
    region: str = ""
    page: int = 1
    per_page: int = 20


def search_demands(db: Session, query: DemandQuery) -> tuple[list[Demand], int]:
    """Open public demands, newest first, matched like products."""
    SearchQuery(
        q=query.q, industry=query.industry, region=query.region, page=query.page, per_page=query.per_page
    ).validated()
    conds: list[ColumnElement[bool]] = [Demand.status == "open", Demand.is_public.is_(True)]
    tokens = query_tokens(query.q)
    if query.q.strip() and not tokens:
        return [], 0
    if tokens:
        conds.append(_text_condition(db, Demand, tokens)[0])
    if query.industry:
        conds.append(Demand.industry_code.startswith(query.industry, autoescape=True))
    if query.region and region_level(query.region) != "province":
        prefix = query.region[:4] if region_level(query.region) == "prefecture" else query.region
        conds.append(Demand.division_code.startswith(prefix, autoescape=True))
    total = int(db.scalar(select(func.count()).select_from(Demand).where(*conds)) or 0)
    rows = db.scalars(
        select(Demand)
        .where(*conds)
        .order_by(Demand.created_at.desc(), Demand.id.desc())
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
    )
    return list(rows), total
