"""Search of the public catalogue: full text in Chinese and English, facets, sorting, pages.

Products: :func:`search_listings` for the portal and the API, answered by the in-memory index
of :mod:`qianshu.catalog.search_index` (the same on SQLite and PostgreSQL); only the page's
rows are then read from the database. The API's rendered pages are cached by the catalogue's
generation (:mod:`qianshu.catalog.search_cache`).

Demands (:func:`search_demands`, a small table) are matched in the database: SQLite FTS5 over
the pre-tokenised columns, PostgreSQL a GIN index over a 'simple' tsvector.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session, defer

from qianshu.catalog.models import DATA_TYPES, DELIVERY_MODES, Demand, Listing
from qianshu.catalog.pricing import PRICE_BUCKETS
from qianshu.catalog.search_cache import cached_page, read_generation, store_page, stored_page
from qianshu.catalog.search_index import listing_index
from qianshu.catalog.tokens import fts5_match, query_tokens
from qianshu.core.db import Database
from qianshu.core.errors import InvalidInput
from qianshu.core.identifiers import guizhou_divisions

SORTS = ("relevance", "newest", "price_asc", "price_desc", "popular")
CLASSIFICATIONS = ("general", "important", "core")
FREQUENCIES = ("once", "realtime", "daily", "weekly", "monthly", "quarterly", "yearly")
MAX_QUERY_LENGTH = 500
MAX_PER_PAGE = 100
MAX_PAGE = 10_000
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
    facets_exact: bool = True  # always: the index counts exactly (kept in the API for its clients)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))


def region_level(code: str) -> str:
    if code.endswith("0000"):
        return "province"
    return "prefecture" if code.endswith("00") else "county"


def _demand_text_condition(db: Session, tokens: list[str]) -> ColumnElement[bool]:
    """Every token present, on the dialect in use."""
    if db.get_bind().dialect.name == "postgresql":
        simple: ColumnElement[Any] = literal_column("'simple'")
        # The same expression as the GIN index of migration 0004 (PostgreSQL matches expression trees).
        vector = func.setweight(func.to_tsvector(simple, Demand.search_title), literal_column("'A'")).op("||")(
            func.to_tsvector(simple, Demand.search_body)
        )
        return vector.op("@@")(func.plainto_tsquery(simple, bindparam("tsq", " ".join(tokens), type_=String)))
    match: Select[Any] = select(column("rowid")).select_from(table("catalog_fts_demands")).where(
        text("catalog_fts_demands MATCH :m").bindparams(m=fts5_match(tokens))
    )
    return Demand.id.in_(match)


def _filters(query: SearchQuery) -> dict[str, str] | None:
    """The index fields and values a product must have; None when nothing can match."""
    filters: dict[str, str] = {}
    if query.industry:
        filters["industry" if len(query.industry) == 1 else "industry_code"] = query.industry
    if query.region:
        level = region_level(query.region)
        if level == "province" and query.region != "520000":
            return None  # outside Guizhou: nothing is listed there
        if level != "province":
            filters[level if level == "prefecture" else "division"] = query.region
    for name, value in (("data_type", query.data_type), ("delivery", query.delivery), ("price", query.price),
                        ("classification", query.classification), ("frequency", query.frequency)):
        if value:
            filters[name] = value
    return filters


def _facet_values(query: SearchQuery, counts: dict[str, list[tuple[str, int]]]) -> dict[str, list[FacetValue]]:
    selected = {
        "industry": query.industry[:1],
        "region": query.region,
        "data_type": query.data_type,
        "delivery": query.delivery,
        "price": query.price,
        "classification": query.classification,
        "frequency": query.frequency,
    }
    known = guizhou_divisions()
    facets: dict[str, list[FacetValue]] = {}
    for name in selected:
        values = [FacetValue(value, n, value == selected[name]) for value, n in counts.get(name, []) if value]
        if name == "region":
            values = [v for v in values if v.value in known]
        values.sort(key=lambda v: (-v.count, v.value))
        facets[name] = values
    return facets


def _search(db: Session, query: SearchQuery, tokens: list[str], generation: Any) -> SearchResult:
    index = listing_index(db)
    index.ensure_current(db, generation)
    filters = _filters(query)
    if filters is None:
        return SearchResult(query, [], 0, {}, tokens)
    facet_region = "division" if query.region and region_level(query.region) != "province" else "prefecture"
    hits = index.search(tokens=tokens, filters=filters, sort=query.sort, offset=(query.page - 1) * query.per_page,
                        limit=query.per_page, facet_region=facet_region)
    items: list[Listing] = []
    if hits.ids:  # read now, and only those still listed, in the index's order
        rows = db.scalars(select(Listing).where(Listing.id.in_(hits.ids), Listing.status == "listed")
                          .options(defer(Listing.search_title), defer(Listing.search_body)))  # long, never shown
        by_id = {x.id: x for x in rows}
        items = [by_id[i] for i in hits.ids if i in by_id]
    return SearchResult(query, items, hits.total, _facet_values(query, hits.facets), tokens)


def _prepared(query: SearchQuery) -> tuple[SearchQuery, list[str]] | None:
    """The validated query and its tokens; None when the text has no searchable token (only
    punctuation, emoji or operators): nothing can match."""
    query = query.validated()
    tokens = query_tokens(query.q)
    return None if query.q.strip() and not tokens else (query, tokens)


def _page(query: SearchQuery, tokens: list[str]) -> tuple[Any, ...]:
    """What a cached page is keyed by, besides the database, generation and rendering variant."""
    return (tuple(tokens), replace(query, q=""))


def search_listings(db: Session, query: SearchQuery) -> SearchResult:
    prepared = _prepared(query)
    if prepared is None:
        return SearchResult(query.validated(), [], 0, {}, [])
    return _search(db, *prepared, read_generation(db))


def search_rendered(
    db: Session, query: SearchQuery, variant: tuple[Any, ...], render: Callable[[SearchResult], bytes]
) -> bytes:
    """``render(search_listings(db, query))``, cached by the catalogue's generation and ``variant``
    (language, base URL) for the pages' time to live. Counters shown with each product (views,
    followers, popularity) do not move the generation, so they may lag by up to that."""
    prepared = _prepared(query)
    if prepared is None:
        return render(SearchResult(query.validated(), [], 0, {}, []))
    query, tokens = prepared
    generation = read_generation(db)
    body = stored_page(db, generation, _page(query, tokens), variant)
    if body is None:
        body = render(_search(db, query, tokens, generation))
        store_page(db, generation, _page(query, tokens), variant, body)
    return body


def cached_search(database: Database, query: SearchQuery, variant: tuple[Any, ...], refresh: float) -> bytes | None:
    """What ``search_rendered`` would return, if it is in this process's cache and the catalogue
    has not changed since (as far as this process can tell without asking the database: see
    :mod:`qianshu.catalog.search_cache`); otherwise None."""
    prepared = _prepared(query)
    return None if prepared is None else cached_page(database, _page(*prepared), variant, refresh)


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
        conds.append(_demand_text_condition(db, tokens))
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
