"""The OpenAPI document of the REST API, as the server really behaves.

FastAPI's own document says every route may answer 422 with its ``HTTPValidationError`` JSON
and nothing else. Here, each operation gets, besides the errors its route declares
(``core.openapi.problems``), the problem+json errors that follow from its shape:

- 401 where the route reads who is asking (a bad, expired or revoked bearer token), 403 where
  it needs a signed-in user (the permission rules; a read-only token on a write);
- 408 and 413 where it takes a body, 400 where that body is JSON (bytes that are not JSON text);
  422 where it takes any input;
- 503 everywhere (database busy, server at capacity; with ``Retry-After``).

It also declares the two ways to authenticate: a bearer token (API clients) and the portal's
session cookie (a browser; unsafe methods then need the CSRF header too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, get_args

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from qianshu.accounts import deps
from qianshu.core.csrf import SESSION_COOKIE
from qianshu.core.openapi import BEARER, SESSION, SIGNED_IN, Problem, problem_response_doc

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SIGNED_IN: Callable[..., Any] = get_args(deps.SignedInActor)[1].dependency  # Annotated[Actor, Depends(...)]
SECURITY_SCHEMES = {
    BEARER: {"type": "http", "scheme": "bearer",
             "description": "An API token (portal: *API tokens*, or `POST /api/v1/tokens`). "
                            "Writes need a token with the `write` scope."},
    SESSION: {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
              "description": "The portal's session, for a signed-in browser. Unsafe methods also need "
                             "the CSRF token in the `X-CSRF-Token` header."},
}
DESCRIPTION = ("The REST API of Qianshu (黔数). Every error is RFC 9457 `application/problem+json` with a "
               "stable `code`; messages follow `Accept-Language` (Chinese by default, English with `en`).")


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any] | None]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _common_errors(route: RouteContext, method: str, operation: dict[str, Any]) -> list[int]:
    calls = set(_calls(route.dependant))
    statuses: list[int] = []
    security = operation.get("security")
    signed_in = _SIGNED_IN in calls or (security is not None and {} not in security)
    if signed_in:
        statuses += [401, 403]
        operation.setdefault("security", SIGNED_IN)
    elif deps.load_actor in calls or security is not None:
        statuses.append(401)
        operation.setdefault("security", [{}, {BEARER: []}, {SESSION: []}])
    unsafe = method.upper() not in SAFE_METHODS
    if unsafe and 401 in statuses:
        statuses += [403, 409]  # a read-only token; a concurrent change (core/errors.py Conflict)
    body = operation.get("requestBody", {}).get("content", {})
    if "application/json" in body:
        statuses.append(400)  # bytes that are not JSON text at all (e.g. not UTF-8): body_unreadable
    if body:
        statuses += [408, 413]
    if "requestBody" in operation or operation.get("parameters"):
        statuses.append(422)
    return [*statuses, 503]


def build_openapi(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(title=app.title, version=app.version, description=DESCRIPTION, routes=app.routes)
    routes = {(route.path_format, method.lower()): route for route in iter_route_contexts(app.routes)
              if isinstance(route.original_route, APIRoute) for method in route.methods or ()}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            route = routes[(path, method)]
            responses = operation.setdefault("responses", {})
            if "HTTPValidationError" in str(responses.get("422", "")):
                del responses["422"]  # FastAPI's default; ours is problem+json
            for status in _common_errors(route, method, operation):
                responses.setdefault(str(status), problem_response_doc(status))
            operation["responses"] = dict(sorted(responses.items()))
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    components["schemas"] = dict(sorted(schemas.items()))
    components["securitySchemes"] = SECURITY_SCHEMES
    return document


def install(app: FastAPI) -> None:
    """Serve :func:`build_openapi`'s document (built once) at the app's ``openapi_url``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
