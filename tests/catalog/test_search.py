"""Full-text search in Chinese and English, facets, sorting, pages — on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from qianshu.catalog import demand
from qianshu.catalog.schemas import DemandIn, PlanIn
from qianshu.catalog.search import DemandQuery, SearchQuery, search_demands, search_listings
from qianshu.catalog.tokens import index_tokens, query_tokens
from qianshu.core.errors import InvalidInput


def test_tokens_for_chinese_english_and_digits() -> None:
    assert query_tokens("贵阳 traffic 2024") == ["贵阳", "traffic", "2024"]
    assert query_tokens("交通数据") == ["交通", "通数", "数据"]
    assert query_tokens("医") == ["医"]
    assert query_tokens('"a" OR NEAR(b*) ) -- ; DROP') == ["a", "or", "near", "b", "drop"]
    assert "气象" in index_tokens("贵州气象观测").split()
    assert query_tokens("😀\x00\x1f") == []


def test_english_words_are_reduced_to_their_stems_and_chinese_is_unchanged() -> None:
    assert query_tokens("drivers") == query_tokens("driver") == ["driver"]
    assert query_tokens("Running runs") == ["run"]
    assert index_tokens("Driver Licences 驾驶员") == "driver licenc 驾 驶 员 驾驶 驶员"
    assert query_tokens("驾驶员 drivers 2024") == ["驾驶", "驶员", "driver", "2024"]


@pytest.mark.parametrize("q", ["driver", "drivers", "DRIVERS", "驾驶员"])
def test_any_form_of_a_word_finds_the_product(db: Session, listed, merchant, q: str) -> None:  # type: ignore[no-untyped-def]
    product = listed(merchant, title_zh="网约车驾驶员资质", title_en="Ride-hailing drivers and their licences")
    listed(merchant, title_zh="贵阳道路网", title_en="Guiyang road network")
    assert _ids(db, q=q) == {product.id}


def test_stems_match_in_both_directions_and_rank_titles_first(db: Session, listed, merchant) -> None:  # type: ignore[no-untyped-def]
    runner = listed(merchant, title_zh="跑步数据", title_en="Running routes",
                    description_en="Where people jog.")
    in_body = listed(merchant, title_zh="公园设施", title_en="Park facilities",
                     description_en="Paths where people run at dawn.")
    listed(merchant, title_zh="公园设施二", title_en="Park benches", description_en="Benches.")
    for q in ("run", "running", "runs"):
        assert [x.id for x in search_listings(db, SearchQuery(q=q)).items] == [runner.id, in_body.id]


@pytest.mark.parametrize("q", ["route optimisation", "routes optimising", "ROUTE"])
def test_demands_are_found_by_any_form_of_a_word(db: Session, buyer, q: str) -> None:  # type: ignore[no-untyped-def]
    posted = demand.post_demand(db, buyer, DemandIn(title="需要物流运单数据", scenario="Routes optimisation"))
    rows, total = search_demands(db, DemandQuery(q=q))
    assert (total, [r.id for r in rows]) == (1, [posted.id])


@pytest.fixture
def corpus(listed, merchant):  # type: ignore[no-untyped-def]
    traffic = listed(
        merchant,
        title_zh="贵阳市交通流量数据",
        title_en="Guiyang traffic flow 2024",
        description_zh="主要道路卡口车流量，按小时汇总。",
        description_en="Hourly vehicle counts.",
        industry_code="G54",
        division_code="520102",
        tags=["交通", "traffic"],
        data_type="time_series",
    )
    insurance = listed(
        merchant,
        title_zh="遵义市医保结算统计",
        title_en="Zunyi medical insurance settlements",
        description_zh="按月统计的医保结算数据。",
        industry_code="S94",
        division_code="520302",
        classification="important",
        update_frequency="monthly",
        plans=[PlanIn(kind="monthly", price="20000", delivery_modes=["sandbox"])],
    )
    weather = listed(
        merchant,
        title_zh="贵州气象观测数据",
        title_en="Guizhou weather observations",
        description_en="Temperature and rainfall from 80 stations.",
        industry_code="M74",
        division_code="520000",
        update_frequency="realtime",
        data_type="time_series",
        plans=[PlanIn(kind="free", delivery_modes=["api", "download"])],
    )
    listed(merchant, title_zh="待审核的交通数据", status="pending", division_code="520102")
    return {"traffic": traffic, "insurance": insurance, "weather": weather}


def _ids(db: Session, **kwargs) -> set[int]:  # type: ignore[no-untyped-def]
    return {x.id for x in search_listings(db, SearchQuery(**kwargs)).items}


@pytest.mark.parametrize(
    ("q", "key"),
    [
        ("交通", "traffic"),
        ("医保", "insurance"),
        ("气象", "weather"),
        ("TRAFFIC", "traffic"),
        ("weather", "weather"),
        ("贵阳", "traffic"),
        ("遵义 insurance", "insurance"),
    ],
)
def test_words_are_found(db: Session, corpus, q: str, key: str) -> None:  # type: ignore[no-untyped-def]
    assert _ids(db, q=q) == {corpus[key].id}


def test_mixed_query(db: Session, corpus) -> None:  # type: ignore[no-untyped-def]
    assert _ids(db, q="贵阳 traffic 2024") == {corpus["traffic"].id}
    assert _ids(db, q="贵阳 traffic 2023") == set()


def test_only_listed_products_are_found(db: Session, corpus) -> None:  # type: ignore[no-untyped-def]
    assert _ids(db, q="待审核") == set()
    assert len(_ids(db)) == 3


def test_facets_and_filters(db: Session, corpus) -> None:  # type: ignore[no-untyped-def]
    result = search_listings(db, SearchQuery())
    assert result.total == 3
    regions = {v.value: v.count for v in result.facets["region"]}
    assert regions == {"520100": 1, "520300": 1, "520000": 1}
    assert {v.value: v.count for v in result.facets["delivery"]} == {"download": 2, "sandbox": 1, "api": 1}
    assert {v.value for v in result.facets["price"]} == {"free", "1k_10k", "10k_100k"}
    assert _ids(db, region="520100") == {corpus["traffic"].id}
    assert _ids(db, region="520102") == {corpus["traffic"].id}
    assert _ids(db, industry="S") == {corpus["insurance"].id}
    assert _ids(db, industry="S94") == {corpus["insurance"].id}
    assert _ids(db, delivery="api") == {corpus["weather"].id}
    assert _ids(db, price="free") == {corpus["weather"].id}
    assert _ids(db, classification="important") == {corpus["insurance"].id}
    assert _ids(db, frequency="realtime") == {corpus["weather"].id}
    assert _ids(db, data_type="time_series") == {corpus["traffic"].id, corpus["weather"].id}
    county = search_listings(db, SearchQuery(region="520100"))
    assert [v.value for v in county.facets["region"]] == ["520102"]


def test_sorting(db: Session, corpus) -> None:  # type: ignore[no-untyped-def]
    by_price = [x.id for x in search_listings(db, SearchQuery(sort="price_asc")).items]
    assert by_price == [corpus["weather"].id, corpus["traffic"].id, corpus["insurance"].id]
    by_price_desc = [x.id for x in search_listings(db, SearchQuery(sort="price_desc")).items]
    assert by_price_desc == by_price[::-1]
    newest = [x.id for x in search_listings(db, SearchQuery(sort="newest")).items]
    assert newest[0] == corpus["weather"].id
    assert len(search_listings(db, SearchQuery(q="数据", sort="relevance")).items) == 3


def test_pagination(db: Session, corpus) -> None:  # type: ignore[no-untyped-def]
    first = search_listings(db, SearchQuery(per_page=2, sort="newest"))
    second = search_listings(db, SearchQuery(per_page=2, page=2, sort="newest"))
    assert first.total == second.total == 3
    assert first.pages == 2
    assert len(first.items) == 2
    assert len(second.items) == 1
    assert not {x.id for x in first.items} & {x.id for x in second.items}
    beyond = search_listings(db, SearchQuery(page=500))
    assert beyond.items == []
    assert beyond.total == 3


@pytest.mark.parametrize(
    "q",
    [
        "x" * 500,
        '"',
        '""',
        "***",
        "NEAR(交通 数据)",
        "(((",
        "交通 AND OR NOT",
        "'; DROP TABLE catalog_listings; --",
        "1=1 OR 'a'='a'",
        "😀🚗",
        "\x00\x07交通",
        "交通\u202e",
        "-交通",
        "^交通",
        "交通:*",
        "title:交通",
        "{a b}",
    ],
)
def test_hostile_queries_never_fail(db: Session, corpus, q: str) -> None:  # type: ignore[no-untyped-def]
    result = search_listings(db, SearchQuery(q=q))
    assert result.total == len(result.items) or result.total > len(result.items)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"q": "x" * 10_000},
        {"page": -1},
        {"page": 0},
        {"per_page": 1000},
        {"region": "abc"},
        {"industry": "交通"},
        {"sort": "random"},
        {"delivery": "pigeon"},
        {"price": "cheap"},
    ],
)
def test_malformed_parameters_are_refused(db: Session, kwargs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput):
        search_listings(db, SearchQuery(**kwargs))


def test_unknown_but_wellformed_values_match_nothing(db: Session, corpus) -> None:  # type: ignore[no-untyped-def]
    assert _ids(db, industry="T") == set()
    assert _ids(db, region="110000") == set()
    assert _ids(db, region="520199") == set()


def test_relevance_puts_title_matches_first_and_breaks_ties_by_popularity(  # type: ignore[no-untyped-def]
        db: Session, listed, merchant) -> None:
    body_only = listed(merchant, title_zh="贵阳路网", description_zh="包含交通卡口的流量数据。")
    quiet = listed(merchant, title_zh="毕节交通数据")
    popular = listed(merchant, title_zh="遵义交通数据")  # as long as "quiet": the same score
    popular.popularity = 500
    db.flush()
    ranked = [x.id for x in search_listings(db, SearchQuery(q="交通")).items]
    assert ranked == [popular.id, quiet.id, body_only.id]


@pytest.mark.parametrize("sort", ["relevance", "newest", "price_asc", "price_desc", "popular"])
def test_pages_neither_repeat_nor_skip(db: Session, listed, merchant, sort: str) -> None:  # type: ignore[no-untyped-def]
    prices = ["100", "100", "2500", None, "100", "88000", None]  # ties, and products asking for a quote
    made = {listed(merchant, title_zh=f"贵阳交通数据{i}", plans=[
        PlanIn(kind="one_time", price=p, delivery_modes=["download"]) if p
        else PlanIn(kind="quote", delivery_modes=["sandbox"])]).id
        for i, p in enumerate(prices)}
    seen: list[int] = []
    for page in (1, 2, 3):
        seen += [x.id for x in search_listings(db, SearchQuery(q="交通", sort=sort, per_page=3, page=page)).items]
    assert sorted(seen) == sorted(made)
    if sort.startswith("price"):
        by_price = {x.id: x.min_price_fen for x in search_listings(db, SearchQuery(sort=sort, per_page=20)).items}
        priced = [by_price[i] for i in seen if by_price[i] is not None]
        assert priced == sorted(priced, reverse=sort == "price_desc")
        assert all(by_price[i] is None for i in seen[len(priced):])  # quotes last, both ways


def test_popularity_moved_by_views_is_caught_up(db: Session, corpus, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from qianshu.catalog import search_index, service

    top = search_listings(db, SearchQuery(sort="popular", per_page=1)).items
    assert top[0].id != corpus["insurance"].id
    for _ in range(5):
        service.record_view(db, corpus["insurance"].id)  # counters: updated_at does not move
    db.flush()
    assert [x.id for x in search_listings(db, SearchQuery(sort="popular", per_page=1)).items] == [top[0].id]
    monkeypatch.setattr(search_index, "COUNTERS_SECONDS", 0.0)  # as if ten seconds had passed
    top = search_listings(db, SearchQuery(sort="popular", per_page=1)).items
    assert [x.id for x in top] == [corpus["insurance"].id]


def test_the_index_is_warmed_up_and_the_same_for_every_search(database, corpus) -> None:  # type: ignore[no-untyped-def]
    from qianshu.catalog.search_index import listing_index, warm_up

    warm_up(database)
    with database.unit_of_work(write=False) as db:
        index = listing_index(db)
        assert search_listings(db, SearchQuery(q="气象")).total == 1
    with database.unit_of_work(write=False) as db:
        assert listing_index(db) is index


def test_a_change_is_seen_by_the_next_search(db: Session, corpus) -> None:  # type: ignore[no-untyped-def]
    from qianshu.core.timeutil import utcnow

    assert search_listings(db, SearchQuery(q="交通")).total == 1
    assert search_listings(db, SearchQuery(q="交通")).total == 1  # cached
    traffic = corpus["traffic"]
    traffic.status, traffic.updated_at = "paused", utcnow()
    db.flush()
    again = search_listings(db, SearchQuery(q="交通"))
    assert (again.total, again.items) == (0, [])


def test_ties_go_to_the_more_popular_then_the_newer_and_stay_put_after_edits(  # type: ignore[no-untyped-def]
        db: Session, listed, merchant) -> None:
    from qianshu.core.timeutil import utcnow

    same = [listed(merchant, title_zh=f"毕节交通数据{n}") for n in "一二三四五六"]  # equal length, equal score
    same[2].popularity = 9
    db.flush()
    expected = [same[2].id, *sorted((x.id for x in same if x is not same[2]), reverse=True)]

    def ranked() -> list[int]:
        pages = [search_listings(db, SearchQuery(q="毕节 交通", per_page=2, page=p)).items for p in (1, 2, 3)]
        return [x.id for page in pages for x in page]

    assert ranked() == expected
    for product in same[:2]:  # edits move documents within the index; the order must not care
        product.description_zh, product.updated_at = "更新", utcnow()
    db.flush()
    assert ranked() == expected


def test_busy_edits_do_not_starve_the_popularity(db: Session, corpus, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from qianshu.catalog import search_index, service
    from qianshu.core.timeutil import utcnow

    search_listings(db, SearchQuery())
    for _ in range(5):
        service.record_view(db, corpus["insurance"].id)
    monkeypatch.setattr(search_index, "COUNTERS_SECONDS", 0.0)
    corpus["traffic"].updated_at = utcnow()  # somebody edits something at every search
    db.flush()
    top = search_listings(db, SearchQuery(sort="popular", per_page=1)).items
    assert [x.id for x in top] == [corpus["insurance"].id]


def test_a_search_on_an_older_snapshot_leaves_the_index_alone(db: Session, corpus) -> None:  # type: ignore[no-untyped-def]
    from qianshu.catalog.search_cache import read_generation
    from qianshu.catalog.search_index import listing_index
    from qianshu.core.timeutil import utcnow

    search_listings(db, SearchQuery())
    older = read_generation(db)
    corpus["weather"].status, corpus["weather"].updated_at = "paused", utcnow()
    db.flush()
    assert _ids(db) == {corpus["traffic"].id, corpus["insurance"].id}
    listing_index(db).ensure_current(db, older)  # a request that began before the pause, arriving late
    assert _ids(db) == {corpus["traffic"].id, corpus["insurance"].id}


def test_a_change_the_syncs_missed_is_repaired(db: Session, corpus, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from qianshu.catalog import search_index
    from qianshu.catalog.tokens import index_tokens

    assert _ids(db, q="茶叶") == set()
    # committed very late: its updated_at lies far behind the newest the index has read
    weather = corpus["weather"]
    weather.search_title = index_tokens("贵州茶叶气象观测数据")
    weather.updated_at = weather.updated_at - dt.timedelta(hours=1)
    db.flush()
    assert _ids(db, q="茶叶") == set()
    monkeypatch.setattr(search_index, "RECONCILE_SECONDS", 0.0)
    assert _ids(db, q="茶叶") == {weather.id}
