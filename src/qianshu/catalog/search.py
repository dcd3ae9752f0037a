"""Search of the public catalogue: full text in Chinese and English, facets, sorting, pages.

One function, :func:`search_listings`, for the portal and the API, on SQLite (FTS5 + bm25)
and PostgreSQL (GIN over a 'simple' tsvector + ts_rank). The text is matched on the
pre-tokenised columns (:mod:`qianshu.catalog.tokens`), so both engines see the same tokens
and return the same set of products; only the relevance scores differ.

Facet counts are computed with ``GROUP BY`` over the filtered set in one statement (a CTE
that both engines materialise once), including the facet's own filter.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
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


def _facets(db: Session, query: SearchQuery, conds: list[ColumnElement[bool]]) -> dict[str, list[FacetValue]]:
    region_col = (
        Listing.division_code if query.region and region_level(query.region) != "province" else Listing.prefecture_code
    )
    matched = (
        select(
            Listing.industry_section.label("industry"),
            region_col.label("region"),
            Listing.data_type.label("data_type"),
            Listing.classification.label("classification"),
            Listing.update_frequency.label("frequency"),
            _price_bucket().label("price"),
            Listing.delivery_mask.label("mask"),
        )
        .where(*conds)
        .cte("matched")
    )
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
    for facet, value, count in db.execute(union_all(*parts)):
        if facet == "delivery":
            for i, mode in enumerate(DELIVERY_MODES):
                if int(value or 0) & (1 << i):
                    delivery_counts[mode] += int(count)
        elif value not in (None, ""):
            facets[facet].append(FacetValue(str(value), int(count)))
    facets["delivery"] = [FacetValue(m, n) for m, n in delivery_counts.items() if n]
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


class _FacetCache:
    """Facet counts of recent searches, keyed by the catalogue's generation.

    The generation is the newest ``updated_at`` of any listing (every change that moves a
    facet count sets it; an index makes it one B-tree probe), so a change is seen by the next
    search. Entries also expire after ``TTL`` seconds: on PostgreSQL a transaction that
    commits after a newer one could otherwise hide behind the newer generation.
    """

    TTL = 10.0
    SIZE = 4096

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[Any, ...], tuple[float, dict[str, list[FacetValue]]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> dict[str, list[FacetValue]] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None or time.monotonic() - found[0] > self.TTL:
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key: tuple[Any, ...], facets: dict[str, list[FacetValue]]) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), facets)
            while len(self._entries) > self.SIZE:
                self._entries.popitem(last=False)


FACET_CACHE = _FacetCache()


def _cached_facets(db: Session, query: SearchQuery, conds: list[ColumnElement[bool]]) -> dict[str, list[FacetValue]]:
    generation = db.scalar(select(func.max(Listing.updated_at)))
    key = (
        str(db.get_bind().engine.url),
        generation,
        tuple(query_tokens(query.q)),
        replace(query, q="", sort="", page=1, per_page=1),
    )
    facets = FACET_CACHE.get(key)
    if facets is None:
        facets = _facets(db, query, conds)
        FACET_CACHE.put(key, facets)
    return {name: [FacetValue(v.value, v.count, v.selected) for v in values] for name, values in facets.items()}


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


def search_listings(db: Session, query: SearchQuery, *, with_facets: bool = True) -> SearchResult:
    query = query.validated()
    tokens = query_tokens(query.q)
    if query.q.strip() and not tokens:
        # Only punctuation, emoji or operators: nothing can match.
        return SearchResult(query, [], 0, {}, [])
    conds = _conditions(query)
    sqlite = db.get_bind().dialect.name != "postgresql"
    rank: ColumnElement[Any] | None = None
    if tokens:
        cond, pg_rank = _text_condition(db, Listing, tokens)
        conds.append(cond)
        rank = pg_rank
    offset = (query.page - 1) * query.per_page
    if tokens and sqlite and query.sort == "relevance":
        fts = table("catalog_fts", column("rowid"))
        stmt = (
            select(Listing)
            .join(fts, fts.c.rowid == Listing.id)
            .where(*conds[:-1], text("catalog_fts MATCH :m").bindparams(m=fts5_match(tokens)))
            .order_by(literal_column("bm25(catalog_fts, 4.0, 1.0)"), *_order(query, None, sqlite))
        )
    else:
        stmt = select(Listing).where(*conds).order_by(*_order(query, rank, sqlite))
    items = list(db.scalars(stmt.limit(query.per_page).offset(offset)))
    if with_facets:
        facets = _cached_facets(db, query, conds)
        total = sum(v.count for v in facets["classification"])
    else:
        facets = {}
        total = int(db.scalar(select(func.count()).select_from(Listing).where(*conds)) or 0)
    return SearchResult(query, items, total, facets, tokens)


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
