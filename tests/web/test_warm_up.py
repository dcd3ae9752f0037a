"""What a server does before it accepts connections (web/app.py ``_warm_up``), so that the first
requests after a start, or a burst of clients waiting through a restart, do not pay for it:
every router's routes analysed, the languages' data loaded, the pool's connections opened."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from qianshu.core import l10n
from qianshu.core.db import Database
from qianshu.web import app as web_app
from qianshu.web import route_prefixes

# A page, an API call and the sign-in form: three routers, each first reached by its request.
FIRST_REQUESTS = ("/catalog?q=交通", "/api/v1/catalog/search?q=交通", "/sign-in")


@pytest.fixture
def route_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The routes FastAPI analyses (builds the dependency tree and parameter models of) while
    the test runs, by path."""
    if route_prefixes._IncludedRouter is None:
        pytest.skip("this FastAPI builds its routes when they are included")
    import fastapi.routing

    built: list[str] = []
    original = fastapi.routing._EffectiveRouteContext.from_api_route.__func__

    def counted(cls: Any, *args: Any, **kwargs: Any) -> Any:
        context = original(cls, *args, **kwargs)
        built.append(str(getattr(context, "path", "")))
        return context

    monkeypatch.setattr(fastapi.routing._EffectiveRouteContext, "from_api_route", classmethod(counted))
    return built


def test_without_the_warm_up_the_first_requests_build_their_routers(app: Any, route_builds: list[str]) -> None:
    with TestClient(app) as client:
        for path in FIRST_REQUESTS:
            assert client.get(path).status_code == 200
    assert any(path.startswith("/catalog") for path in route_builds)
    assert any(path.startswith("/api/v1/catalog") for path in route_builds)


def test_after_the_warm_up_no_request_builds_a_route(app: Any, database: Database, route_builds: list[str]) -> None:
    web_app._warm_up(app, database)
    warmed = len(route_builds)
    assert warmed > 200  # every capability's pages and API
    with TestClient(app) as client:
        for path in FIRST_REQUESTS:
            assert client.get(path).status_code == 200
        assert client.get("/catalog/999999").status_code == 404
    assert route_builds[warmed:] == []


def test_every_route_is_still_found_after_the_warm_up(app: Any, database: Database) -> None:
    web_app._warm_up(app, database)
    with TestClient(app) as client:
        assert client.get("/api/v1/log/public-key").status_code == 200
        assert client.get("/catalog", headers={"Accept-Language": "en"}).status_code == 200
        assert client.get("/no/such/page").status_code == 404


def test_the_translations_are_read_before_the_first_page() -> None:
    from qianshu.core import i18n

    i18n.catalogue.cache_clear()
    l10n.warm_up()
    assert i18n.catalogue.cache_info().currsize == len(i18n.LANGUAGES)
    assert i18n.translate("Not found", "zh") != "Not found"
    assert l10n.format_money(123_456_789, "zh") == "¥123.46万"


def test_the_pool_opens_its_connections(database_url: str) -> None:
    database = Database(database_url, **({} if database_url.startswith("sqlite") else {"pool_size": 3}))
    try:
        opened = database.open_connections()
        if database.is_sqlite:
            assert opened == 0  # a file database opens in microseconds: nothing to do
        else:
            assert opened == 3  # no more than the pool keeps
            assert database.engine.pool.checkedin() == 3  # type: ignore[attr-defined]
    finally:
        database.dispose()
