"""What the OpenAPI document says about errors, media types and request bodies.

Every error the API sends is RFC 9457 problem+json (:class:`Problem`, built by
``core.http.problem_body`` from a :mod:`qianshu.core.errors` exception). A route declares the
errors particular to it with ``responses=problems(404, 409)``; the app adds those that follow
from the route's shape (``web/app.py``: 401 where it reads a token, 403 where it needs one,
408/413 where it takes a body, 422 where it takes any input, 503 everywhere).
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
JSON_LD = "application/ld+json"
TURTLE = "text/turtle"
PEM = "application/x-pem-file"
OCTET_STREAM = "application/octet-stream"

# What each status means in this API (the codes are listed in docs/api.md).
STATUS_MEANINGS: dict[int, str] = {
    400: "The body could not be read (malformed form or body).",
    401: "Not signed in, or the bearer token is invalid, expired or revoked.",
    403: "Not allowed: the permission rules refuse it, or the token lacks the write scope.",
    404: "No such resource, or not visible to you.",
    408: "The body took too long to arrive.",
    409: "Conflicts with the resource's state or with a concurrent change.",
    413: "The body is larger than the limit.",
    422: "Invalid input; `field` names the first field at fault and `errors` lists all.",
    429: "Too many requests; try again later.",
    503: "The database is busy or the server is at capacity; try again after `Retry-After` seconds.",
}


class FieldProblem(BaseModel):
    field: str = Field(description="The field at fault, as a dotted path (e.g. `body.name`).")
    detail: str = Field(description="What is wrong with it, in the response's language.")


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "type": "https://qianshu.dev/problems/not_found", "title": "not found", "status": 404,
        "code": "not_found", "detail": "Not found.", "instance": "/api/v1/registrations/7"}]})

    type: str = Field(description="A URI naming the kind of problem.")
    title: str = Field(description="The code in words (not translated).")
    status: int = Field(description="The HTTP status code.")
    code: str = Field(description="Stable and machine-readable; never translated.")
    detail: str = Field(description="For a person, in the language of `Accept-Language` (Chinese by default).")
    instance: str = Field(description="The path of the request.")
    field: str | None = Field(default=None, description="The input field at fault, where there is one.")
    errors: list[FieldProblem] | None = Field(default=None, description="Every invalid field (422 only).")


def problem_response_doc(status: int) -> dict[str, Any]:
    """The OpenAPI response object of an error status."""
    doc: dict[str, Any] = {"description": STATUS_MEANINGS.get(status, "Error."),
                           "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if status == 503:
        doc["headers"] = {"Retry-After": {"description": "Seconds to wait before trying again.",
                                          "schema": {"type": "integer"}}}
    return doc


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: its particular error statuses as problem+json."""
    return {status: problem_response_doc(status) for status in statuses}


def body_of(media_type: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """``openapi_extra=`` for a route that reads its body itself (a raw upload, a certificate)."""
    return {"requestBody": {"required": True, "description": description,
                            "content": {media_type: {"schema": schema or {}}}}}


BEARER = "bearerToken"
SESSION = "sessionCookie"
SIGNED_IN: list[dict[str, list[str]]] = [{BEARER: []}, {SESSION: []}]
# Uploads read their body and who is asking themselves (registry/api.py ``_receive``): said here.
RAW_UPLOAD = {**body_of(OCTET_STREAM, "The file's bytes, as they are (not a form).",
                        {"type": "string", "format": "binary"}), "security": SIGNED_IN}


class TurtleResponse(Response):
    media_type = TURTLE


class JsonLdResponse(JSONResponse):
    media_type = JSON_LD


class PemResponse(Response):
    media_type = PEM


class FileDownload(Response):
    """A stored document, sent as an attachment."""

    media_type = OCTET_STREAM
