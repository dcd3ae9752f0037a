"""The Delta Sharing protocol's routes under ``/delta-sharing`` (delivery/delta_sharing.py holds the
rules). Outside the portal: no session, no CSRF, the protocol's own bearer tokens; errors as JSON
``{"errorCode", "message"}`` (the message in both languages), NDJSON for metadata and queries, and
the table version in the ``Delta-Table-Version`` header. Kept out of the OpenAPI document: the
protocol has its own specification."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from qianshu.core.errors import InvalidInput, NotAuthenticated, QianshuError
from qianshu.core.http import get_database, get_settings_dep
from qianshu.core.settings import Settings
from qianshu.delivery import caches, delta_sharing, delta_tokens
from qianshu.delivery.settings import DeliverySettings

router = APIRouter(include_in_schema=False)


_VERSION = "Delta-Table-Version"
_NDJSON = "application/x-ndjson; charset=utf-8"


def _protocol_error(exc: QianshuError) -> JSONResponse:
    status = 400 if exc.status == 422 else exc.status
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
    return JSONResponse({"errorCode": exc.code.upper(), "message": exc.bilingual()}, status_code=status,
                        headers=headers)


def _sharing(request: Request, work: Callable[[Session, Settings, delta_tokens.Grant], Response]) -> Response:
    """Authenticate, then ``work(db, settings, grant)`` in a read-only unit of work; errors as the
    protocol wants them."""
    settings = get_settings_dep(request)
    try:
        with get_database(request).unit_of_work(write=False) as db:
            grant = delta_tokens.authenticate(db, request.headers.get("authorization"))
            result: Response = work(db, settings, grant)
            return result
    except QianshuError as exc:
        return _protocol_error(exc)


def _json_ok(body: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, media_type="application/json; charset=utf-8", headers=headers)


def _ndjson(lines: list[dict[str, Any]], version: int) -> Response:
    body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    return Response(body, media_type=_NDJSON, headers={_VERSION: str(version),
                                                       "delta-sharing-capabilities": "responseformat=parquet"})


@router.get("/delta-sharing/shares")
def ds_list_shares(request: Request, maxResults: str | None = None,  # noqa: N803 - the protocol's names
                   pageToken: str | None = None) -> Response:  # noqa: N803
    return _sharing(request, lambda db, s, g: _json_ok(delta_sharing.list_shares(g, maxResults, pageToken)))


@router.get("/delta-sharing/shares/{share}")
def ds_get_share(share: str, request: Request) -> Response:
    return _sharing(request, lambda db, s, g: _json_ok(delta_sharing.get_share(g, share)))


@router.get("/delta-sharing/shares/{share}/schemas")
def ds_list_schemas(share: str, request: Request, maxResults: str | None = None,  # noqa: N803
                    pageToken: str | None = None) -> Response:  # noqa: N803
    return _sharing(request, lambda db, s, g: _json_ok(delta_sharing.list_schemas(g, share, maxResults, pageToken)))


@router.get("/delta-sharing/shares/{share}/schemas/{schema}/tables")
def ds_list_tables(share: str, schema: str, request: Request, maxResults: str | None = None,  # noqa: N803
                   pageToken: str | None = None) -> Response:  # noqa: N803
    return _sharing(request, lambda db, s, g: _json_ok(
        delta_sharing.list_tables(g, share, schema, maxResults, pageToken)))


@router.get("/delta-sharing/shares/{share}/all-tables")
def ds_all_tables(share: str, request: Request, maxResults: str | None = None,  # noqa: N803
                  pageToken: str | None = None) -> Response:  # noqa: N803
    return _sharing(request, lambda db, s, g: _json_ok(
        delta_sharing.list_tables(g, share, None, maxResults, pageToken)))


@router.api_route("/delta-sharing/shares/{share}/schemas/{schema}/tables/{table}/version", methods=["GET", "HEAD"])
def ds_table_version(share: str, schema: str, table: str, request: Request,
                     startingTimestamp: str | None = None) -> Response:  # noqa: N803
    def work(db: Session, settings: Settings, grant: delta_tokens.Grant) -> Response:
        version = delta_sharing.table_version(db, grant, share, schema, table, startingTimestamp)
        return Response(b"", headers={_VERSION: str(version)})
    return _sharing(request, work)


@router.get("/delta-sharing/shares/{share}/schemas/{schema}/tables/{table}/metadata")
def ds_table_metadata(share: str, schema: str, table: str, request: Request) -> Response:
    def work(db: Session, settings: Settings, grant: delta_tokens.Grant) -> Response:
        version, lines = delta_sharing.table_metadata(db, settings, grant, share, schema, table)
        return _ndjson(lines, version)
    return _sharing(request, work)


@router.post("/delta-sharing/shares/{share}/schemas/{schema}/tables/{table}/query")
async def ds_query(share: str, schema: str, table: str, request: Request) -> Response:
    """The body is already in hand (web/body_limits.py); the work runs on a worker thread."""
    return await run_in_threadpool(_query, request, share, schema, table, await request.body())


def _query(request: Request, share: str, schema: str, table: str, raw: bytes) -> Response:
    """Prepared in a read, the marked files written (once per contract and version) outside any
    transaction, then a short write: the audit row and the public-log leaf."""
    settings = get_settings_dep(request)
    database = get_database(request)
    try:
        with database.unit_of_work(write=False) as db:
            grant = delta_tokens.authenticate(db, request.headers.get("authorization"))
            body = _parse_json(raw)  # after the token: a stranger learns nothing, not even about the body
            prepared = delta_sharing.prepare_query(db, settings, grant, share, schema, table, body)
        # Under the contract folder's shared lock: the cache sweep (delivery/caches.py) never removes
        # a folder while it is written or while URLs to it are being handed out.
        with caches.contract_lock(prepared.folder.parent, exclusive=False):
            parts, wrote = delta_sharing.materialize(prepared, settings.section(DeliverySettings).sharing_file_rows)
            caches.mark_used(prepared.folder)
        lines = delta_sharing.query_lines(settings, prepared, parts)
        with database.unit_of_work() as db:
            delta_sharing.record_query(db, prepared, lines, wrote,
                                       settings.section(DeliverySettings).sharing_url_minutes)
    except QianshuError as exc:
        return _protocol_error(exc)
    return _ndjson(lines, prepared.version.number)


def _parse_json(raw: bytes) -> object:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise InvalidInput("The request body must be a JSON object.", field="body") from None


@router.api_route("/delta-sharing/files/{token_id:int}/{version:int}/{name}", methods=["GET", "HEAD"])
def ds_file(token_id: int, version: int, name: str, request: Request, expires: str = "",
            signature: str = "") -> Response:
    settings = get_settings_dep(request)
    try:
        with get_database(request).unit_of_work(write=False) as db:
            path = delta_sharing.shared_file(db, settings, token_id, version, name, expires[:20], signature[:80])
    except QianshuError as exc:
        return _protocol_error(exc)
    caches.mark_used(path.parent)  # a reader keeps the folder in use
    return FileResponse(path, media_type="application/vnd.apache.parquet")
