"""Routing that skips, for each request, the included routers whose routes cannot match its path.

FastAPI (0.165 here) keeps each ``app.include_router(...)`` as one entry of the app's route list
and finds a request's route by asking every entry in turn, and each entry asks every one of its
routes (a few microseconds each: it saves and restores FastAPI's per-route state in the scope).
With some 320 routes in 30 routers, a portal page, whose routers come after all the API's, was
matched against about 300 routes before its own: 1.1–1.6 ms of CPU per request, a fifth of a
product page and more of the search page (``docs/load.md``, "Routing").

A route can only match a path that starts with the literal part of its own path (what comes
before its first ``{parameter}``), or, for a route without parameters, the path itself. So each
included router is given the set of its routes' exact paths and literal prefixes, and asked only
about a path one of them fits; any other path is answered "no match" at once, as the router
itself would have answered after trying every route. A router with a route whose path cannot be
read that way (a host route, a mount at the root, a route of a kind not known here) keeps being
asked about every path. The order of the routers, and so which route wins when two could match,
does not change. ``tests/web/test_route_prefixes.py`` checks that every route of the app is still
found for its own path.

This uses FastAPI's private ``_IncludedRouter`` (the entry ``include_router`` adds); on a
FastAPI without it (older versions list every route flat) nothing is changed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from starlette.routing import Match, Mount, Route, WebSocketRoute
from starlette.types import Scope

_IncludedRouter: Any = getattr(fastapi.routing, "_IncludedRouter", None)


@dataclasses.dataclass(frozen=True)
class PathFilter:
    """The paths an included router's routes could match: one of ``exact``, or a path starting
    with one of ``prefixes``."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]

    def admits(self, path: str) -> bool:
        return path in self.exact or path.startswith(self.prefixes)


def path_filter(included: Any) -> PathFilter | None:
    """The paths an included router could match, or None if any path might (a route whose path
    says nothing about it).

    Read from the routes' own paths and the include's prefix (``include_context.path_for``, as
    FastAPI builds a route's effective path), not from ``effective_route_contexts()``: those build
    every route's dependency tree, about 0.35 s for the whole app, and on a new entry the router
    builds them again when it first matches. Tests make an app each, so that cost counted."""
    exact: set[str] = set()
    prefixes: set[str] = set()

    def visit(router: Any, context: Any) -> bool:
        if getattr(router, "_low_priority_routes", None):
            return False  # routes of a kind this module does not read: ask the router about every path
        for route in router.routes:
            if isinstance(route, _IncludedRouter):
                if not visit(route.original_router, context.combine(route.include_context)):
                    return False
                continue
            path = getattr(route, "path", None)
            if not isinstance(path, str):
                return False
            path = context.path_for(route)
            if not path.startswith("/"):
                return False
            if isinstance(route, Mount):
                if path in ("", "/"):
                    return False
                prefixes.add(path)  # a mount matches its path followed by "/..."; a superset is safe
            elif isinstance(route, Route | WebSocketRoute):  # FastAPI's API routes are Starlette routes
                literal = path.split("{", 1)[0]
                (prefixes if "{" in path else exact).add(literal)
            else:
                return False
        return True

    if not visit(included.original_router, included.include_context):
        return None
    if any(p in ("", "/") for p in prefixes):
        return None
    return PathFilter(frozenset(exact), tuple(sorted(prefixes)))


if _IncludedRouter is not None:

    @dataclasses.dataclass
    class _FilteredIncludedRouter(_IncludedRouter):  # type: ignore[misc]
        """An included router that first checks the path against its routes' ``PathFilter``."""

        path_filter: PathFilter | None = None

        def matches(self, scope: Scope) -> tuple[Match, Scope]:
            # Only plain HTTP requests are filtered (no ``root_path``, whose stripping is the
            # router's business); websockets and the rest are asked as before.
            if (self.path_filter is not None and scope["type"] == "http" and not scope.get("root_path")
                    and not self.path_filter.admits(scope["path"])):
                return Match.NONE, {}
            return super().matches(scope)  # type: ignore[no-any-return]


def build_included_routes(app: FastAPI) -> int:
    """Make FastAPI analyse now every included router's routes (their dependency trees and
    parameter models), which it otherwise does when a request first reaches the router; returns
    how many routers it built.

    That first request paid 17–43 ms of CPU for its router (the search page's 60 ms against 7
    warm), and after a restart a burst of waiting clients paid it together. A server calls this
    while it warms up, before it accepts connections; tests, which make an app each, do not."""
    if _IncludedRouter is None:
        return 0

    def build(entry: Any) -> int:
        built = 1
        for candidate in entry.effective_candidates():  # the nested routers are built as they are reached
            if isinstance(candidate, _IncludedRouter):
                built += build(candidate)
        entry.effective_low_priority_routes()
        return built

    return sum(build(route) for route in app.router.routes if isinstance(route, _IncludedRouter))


def filter_routers_by_path(app: FastAPI) -> int:
    """Give every router included in ``app`` its path filter; returns how many got one. Call it
    once every router is included (a route added to a router later would not be in its filter)."""
    if _IncludedRouter is None:
        return 0
    routes = app.router.routes
    filtered = 0
    for i, route in enumerate(routes):
        if type(route) is not _IncludedRouter:
            continue
        entry: Any = route
        found = path_filter(entry)
        if found is None:
            continue
        routes[i] = _FilteredIncludedRouter(original_router=entry.original_router,
                                            include_context=entry.include_context, path_filter=found)
        filtered += 1
    return filtered
