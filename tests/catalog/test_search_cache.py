"""The search API's refresh interval: repeated searches skip the database, changes still show.

The suite's settings turn the interval off (``search_refresh_seconds=0``); these tests turn it on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from qianshu.catalog import search_cache
from qianshu.catalog.settings import CatalogSettings
from qianshu.core.db import Database

SEARCH = "/api/v1/catalog/search"


@pytest.fixture
def refreshing(settings, database: Database):  # type: ignore[no-untyped-def]
    """A client whose app trusts its last reading of the catalogue for ``seconds``."""
    from fastapi.testclient import TestClient

    from qianshu.web.app import create_app

    def _client(seconds: float) -> TestClient:
        search_cache.clear()
        copy = settings.model_copy(deep=True)
        copy.override(CatalogSettings, search_refresh_seconds=seconds)
        app = create_app(copy, database=database)
        return TestClient(app, base_url="http://testserver")

    return _client


@pytest.fixture
def statements(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql)

    event.listen(database.engine, "before_cursor_execute", record)
    yield seen
    event.remove(database.engine, "before_cursor_execute", record)


def titles(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["title_zh"] for item in response.json()["items"]]


def test_a_repeated_search_asks_the_database_nothing(refreshing, listed, merchant, statements) -> None:  # type: ignore[no-untyped-def]
    listed(merchant, title_zh="贵阳交通卡口数据")
    client = refreshing(60)
    first = client.get(SEARCH, params={"q": "交通"})
    assert titles(first) == ["贵阳交通卡口数据"]
    asked = len(statements)
    assert asked > 0
    again = client.get(SEARCH, params={"q": "交通"})
    assert again.content == first.content
    assert len(statements) == asked
    english = client.get(SEARCH, params={"q": "交通"}, headers={"Accept-Language": "en"})
    assert english.status_code == 200
    assert len(statements) > asked  # another rendering (facet labels in English): asked again
    too_long = client.get(SEARCH, params={"q": "交" * 501})
    assert too_long.status_code == 422  # the cached path validates like the other


def test_a_change_committed_by_this_process_shows_at_once(  # type: ignore[no-untyped-def]
        refreshing, listed, merchant, make, bearer) -> None:
    owner = make.user(organisation=make.org(org_type="data_merchant"))
    product = listed(make.actor(owner), title_zh="贵阳交通卡口数据")
    client = refreshing(60)
    assert titles(client.get(SEARCH, params={"q": "交通"})) == ["贵阳交通卡口数据"]
    edited = client.patch(f"/api/v1/catalog/listings/{product.id}", headers=bearer(owner),
                          json={"version": product.version, "title_zh": "贵阳交通流量数据"})
    assert edited.status_code == 200, edited.text
    assert titles(client.get(SEARCH, params={"q": "交通"})) == ["贵阳交通流量数据"]


def test_a_change_by_another_process_shows_within_the_interval(  # type: ignore[no-untyped-def]
        refreshing, listed, merchant, db) -> None:
    listed(merchant, title_zh="贵阳交通卡口数据")
    client = refreshing(0.3)
    assert titles(client.get(SEARCH, params={"q": "交通"})) == ["贵阳交通卡口数据"]
    # Written on the test's own session: no unit of work of the app's, as from another worker.
    listed(merchant, title_zh="遵义交通事故数据")
    db.flush()
    assert titles(client.get(SEARCH, params={"q": "交通"})) == ["贵阳交通卡口数据"]  # trusted for now
    time.sleep(0.35)
    assert sorted(titles(client.get(SEARCH, params={"q": "交通"}))) == ["贵阳交通卡口数据", "遵义交通事故数据"]


def test_a_busy_worker_renews_its_reading_before_it_expires(  # type: ignore[no-untyped-def]
        refreshing, listed, merchant, db, statements) -> None:
    listed(merchant, title_zh="贵阳交通卡口数据")
    # An interval long enough that a loaded machine answers well within it (0.4 s flaked in CI-like
    # runs with other suites on the same two cores).
    client = refreshing(2.0)
    assert titles(client.get(SEARCH, params={"q": "交通"})) == ["贵阳交通卡口数据"]
    listed(merchant, title_zh="遵义交通事故数据")
    db.flush()
    time.sleep(1.1)  # past half the interval
    asked = len(statements)
    # Answered from the cache; the generation is read again after the response is sent.
    assert titles(client.get(SEARCH, params={"q": "交通"})) == ["贵阳交通卡口数据"]
    assert [s for s in statements[asked:] if s.startswith("SELECT")] == ["SELECT max(updated_at) FROM catalog_listings"]
    assert len(titles(client.get(SEARCH, params={"q": "交通"}))) == 2  # well before the 2 s are up


def test_views_and_other_writes_keep_the_cache_valid(  # type: ignore[no-untyped-def]
        refreshing, listed, merchant, make, bearer, statements) -> None:
    product = listed(merchant, title_zh="贵阳交通卡口数据")
    client = refreshing(60)
    first = client.get(SEARCH, params={"q": "交通"})
    assert client.get(f"/catalog/{product.id}").status_code == 200  # a view: a counter moves
    assert client.get("/api/v1/tokens", headers=bearer(make.user())).status_code == 200  # a write elsewhere
    asked = len(statements)
    assert client.get(SEARCH, params={"q": "交通"}).content == first.content
    assert len(statements) == asked
