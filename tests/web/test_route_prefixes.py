"""Routers skipped by path (web/route_prefixes.py): every request still reaches the route it reached
when every router was asked, and a path no route has is still a 404."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from starlette.routing import Match

from qianshu.web import route_prefixes
from qianshu.web.route_prefixes import PathFilter, path_filter

pytestmark = pytest.mark.skipif(route_prefixes._IncludedRouter is None,
                                reason="this FastAPI lists every route flat; nothing is filtered")


def _resolve(app: Any, path: str, method: str, *, filtered: bool) -> tuple[str, Any]:
    """Which route the app's router picks for a request, as its own loop picks it (first full
    match, else the first partial one: the path but not the method), down to the route itself."""
    scope = {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}
    partial = None
    for entry in app.router.routes:
        if filtered or not isinstance(entry, route_prefixes._FilteredIncludedRouter):
            match, _child = entry.matches(scope)
        else:  # the same router, asked without its filter
            match, _child = super(route_prefixes._FilteredIncludedRouter, entry).matches(scope)
        if match == Match.FULL:
            return "full", _leaf(entry, scope)
        if match == Match.PARTIAL and partial is None:
            partial = ("partial", _leaf(entry, scope))
    return partial or ("none", None)


def _leaf(entry: Any, scope: dict[str, Any]) -> Any:
    if isinstance(entry, route_prefixes._IncludedRouter):
        _match, _child, route, _context = entry._match(scope)
        return _leaf(route, scope) if isinstance(route, route_prefixes._IncludedRouter) else route
    return entry


def _requests(app: Any) -> list[tuple[str, str]]:
    """A request for every route of the app (each parameter a number, which every convertor
    takes), each with one of the route's methods and one it does not have."""
    found = []
    for entry in app.router.routes:
        contexts = entry.effective_route_contexts() if isinstance(entry, route_prefixes._IncludedRouter) else [entry]
        for context in contexts:
            route = getattr(context, "starlette_route", None) or getattr(context, "original_route", context)
            path = str(getattr(context, "path", None) or getattr(route, "path", ""))
            concrete = re.sub(r"\{[^}]+\}", "7", path)
            if not getattr(route, "methods", None):  # mounts: a file under them
                found.append((concrete + "/x.css", "GET"))
                continue
            found += [(concrete, method) for method in sorted(route.methods)] + [(concrete, "PATCH")]
    return found


def test_every_route_is_found_as_without_the_filters(app) -> None:  # type: ignore[no-untyped-def]
    assert sum(isinstance(e, route_prefixes._FilteredIncludedRouter) for e in app.router.routes) >= 20
    requests = [*_requests(app), ("/catalog/abc", "GET"), ("/nowhere", "GET"), ("/api/v1/nowhere", "POST"),
                ("/catalog/", "GET"), ("/", "GET"), ("/api/v1/registrations/", "GET")]
    assert len(requests) > 300
    for path, method in requests:
        assert _resolve(app, path, method, filtered=True) == _resolve(app, path, method, filtered=False), (
            method, path)


def test_pages_and_api_answer_through_the_filters(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/catalog").status_code == 200
    assert client.get("/api/v1/catalog/search", params={"q": "交通"}).status_code == 200
    assert client.get("/sign-in").status_code == 200
    missing = client.get("/catalog/nowhere/at-all")
    assert missing.status_code == 404
    assert client.get("/api/v1/nowhere").headers["content-type"].startswith("application/problem+json")


def test_a_router_is_filtered_only_by_what_its_paths_say() -> None:
    assert PathFilter(frozenset({"/catalog"}), ("/catalog/",)).admits("/catalog")
    assert PathFilter(frozenset({"/catalog"}), ("/catalog/",)).admits("/catalog/12")
    assert not PathFilter(frozenset({"/catalog"}), ("/catalog/",)).admits("/catalogue")
    assert not PathFilter(frozenset({"/catalog"}), ()).admits("/catalog/")

    def included(*paths: str, prefix: str = "") -> Any:
        """The entry ``include_router`` adds for a router with these paths (under ``prefix``)."""
        router = APIRouter()
        for path in paths:
            router.add_api_route(path, lambda: None)
        app = FastAPI()
        app.include_router(router, prefix=prefix)
        return app.router.routes[-1]

    assert path_filter(included("/catalog", "/catalog/{id:int}")) == PathFilter(frozenset({"/catalog"}), ("/catalog/",))
    assert path_filter(included("", "/{id}", prefix="/api/v1/things")) == PathFilter(
        frozenset({"/api/v1/things"}), ("/api/v1/things/",))  # the prefix counts, as FastAPI adds it
    assert path_filter(included("/catalog", "/{code}")) is None  # a route that may match any path
