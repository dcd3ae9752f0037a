"""Portal pages and routes of delivery's channels: a contract's delivery page (linked from the
exchange's contract page through the ``contract`` template slot), signed download links
(delivery/links.py) and the Delta Sharing protocol under ``/delta-sharing`` (delivery/delta_sharing.py).
Thin handlers: the rules are in those modules."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from qianshu.accounts.deps import SignedInActor
from qianshu.core.actor import Actor
from qianshu.core.errors import InvalidInput, NotAuthenticated, QianshuError
from qianshu.core.http import (
    AppSettings,
    DbSession,
    PostedForm,
    form_fields,
    get_database,
    get_lang,
    get_settings_dep,
    render,
    see_other,
)
from qianshu.core.policy import allows
from qianshu.core.timeutil import utcnow
from qianshu.delivery import delta_sharing, links
from qianshu.delivery.files import FORMATS
from qianshu.delivery.settings import DeliverySettings
from qianshu.exchange import service as exchange_service
from qianshu.exchange.permissions import trade

router = APIRouter(include_in_schema=False)


@dataclass
class ContractDeliveryPage:
    contract: Any
    party: str | None
    can_download: bool
    can_share: bool
    download_mode: bool
    sharing_mode: bool
    links: list[Any]
    link_urls: dict[int, str]
    tokens: list[Any]
    events: list[Any]
    formats: tuple[str, ...] = FORMATS
    endpoint: str = ""
    now: Any = None
    error: str = ""


def _delivery_page(request: Request, db: DbSession, actor: Actor, settings: AppSettings, contract_id: int,
                   error: str = "", status: int = 200) -> Response:
    contract = exchange_service.get_contract(db, actor, contract_id)
    resource = trade(contract)
    can_download = allows(actor, "delivery.download", resource)
    rows = links.links_of(db, contract.id)
    base = settings.public_base
    urls = {x.id: base + links.link_path(settings, x) for x in rows} if can_download else {}
    page = ContractDeliveryPage(
        contract, exchange_service.party_of(actor, contract), can_download,
        allows(actor, "delivery.share", resource), contract.delivery_mode == "download",
        contract.delivery_mode == "delta_sharing", rows, urls, delta_sharing.tokens_of(db, contract.id),
        links.delivery_events(db, contract.id), endpoint=base + delta_sharing.PREFIX, now=utcnow(), error=error)
    return render(request, "delivery/contract.html", page, status_code=status)


@router.get("/delivery/contracts/{contract_id:int}")
def contract_delivery(contract_id: int, request: Request, db: DbSession, actor: SignedInActor,
                      settings: AppSettings) -> Response:
    return _delivery_page(request, db, actor, settings, contract_id)


@router.post("/delivery/contracts/{contract_id:int}/links")
def issue_download_link(contract_id: int, request: Request, db: DbSession, actor: SignedInActor,
                        settings: AppSettings, posted: PostedForm) -> Response:
    try:
        links.issue_link(db, actor, settings, contract_id, str(form_fields(posted).get("format", ""))[:20])
    except QianshuError as exc:
        db.rollback()
        return _delivery_page(request, db, actor, settings, contract_id, exc.render(get_lang(request)), exc.status)
    return see_other(f"/delivery/contracts/{contract_id}#links")


def _client_actor(request: Request, via: str, label: str) -> Actor:
    return Actor(user_id=None, via=via, ip=request.client.host if request.client else None, display_name=label)


@router.get("/delivery/contracts/{contract_id:int}/downloads/{link_id:int}")
def download(contract_id: int, link_id: int, request: Request, settings: AppSettings, expires: str = "",
             signature: str = "") -> Response:
    """The link is its own authority (its signature); the copy is written outside any transaction
    to a temporary file, batch by batch, and removed once sent."""
    database = get_database(request)
    with database.unit_of_work(write=False) as db:
        prepared = links.prepare_fetch(db, settings, contract_id, link_id, expires[:20], signature[:80])
    folder = settings.data_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="qianshu-download-", dir=folder)
    os.close(handle)
    destination = Path(name)
    try:
        rows, sha256 = links.write_fetch(prepared, destination)
        with database.unit_of_work() as db:
            links.record_fetch(db, _client_actor(request, "download", "download link"), prepared, rows, sha256)
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    return FileResponse(destination, media_type=links.MEDIA_TYPES[prepared.fmt], filename=prepared.file_name,
                        background=BackgroundTask(destination.unlink, missing_ok=True))


@router.post("/delivery/contracts/{contract_id:int}/sharing-token")
def sharing_token(contract_id: int, request: Request, db: DbSession, actor: SignedInActor,
                  settings: AppSettings) -> Response:
    """A new token (earlier ones revoked), handed over once as the profile file."""
    try:
        row, token = delta_sharing.issue_token(db, actor, settings, contract_id)
    except QianshuError as exc:
        db.rollback()
        return _delivery_page(request, db, actor, settings, contract_id, exc.render(get_lang(request)), exc.status)
    body = json.dumps(delta_sharing.profile(settings, token, row), indent=2)
    name = delta_sharing.share_name(exchange_service.load_contract(db, row.contract_id).number)
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="qianshu-{name}.share"', "Cache-Control": "no-store"})


@router.post("/delivery/contracts/{contract_id:int}/sharing-revoke")
def sharing_revoke(contract_id: int, request: Request, db: DbSession, actor: SignedInActor,
                   settings: AppSettings) -> Response:
    try:
        delta_sharing.revoke_tokens(db, actor, contract_id)
    except QianshuError as exc:
        db.rollback()
        return _delivery_page(request, db, actor, settings, contract_id, exc.render(get_lang(request)), exc.status)
    return see_other(f"/delivery/contracts/{contract_id}#sharing")


# The Delta Sharing protocol: bearer tokens, JSON errors {"errorCode", "message"} (the message in
# both languages), NDJSON for metadata and queries, the table version in the Delta-Table-Version header.

_VERSION = "Delta-Table-Version"
_NDJSON = "application/x-ndjson; charset=utf-8"


def _protocol_error(exc: QianshuError) -> JSONResponse:
    status = 400 if exc.status == 422 else exc.status
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
    return JSONResponse({"errorCode": exc.code.upper(), "message": exc.bilingual()}, status_code=status,
                        headers=headers)


def _sharing(request: Request, work: Any) -> Response:
    """Authenticate, then ``work(db, settings, grant)`` in a read-only unit of work; errors as the
    protocol wants them."""
    settings = get_settings_dep(request)
    try:
        with get_database(request).unit_of_work(write=False) as db:
            grant = delta_sharing.authenticate(db, request.headers.get("authorization"))
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
    def work(db: DbSession, settings: AppSettings, grant: delta_sharing.Grant) -> Response:
        version = delta_sharing.table_version(db, grant, share, schema, table, startingTimestamp)
        return Response(b"", headers={_VERSION: str(version)})
    return _sharing(request, work)


@router.get("/delta-sharing/shares/{share}/schemas/{schema}/tables/{table}/metadata")
def ds_table_metadata(share: str, schema: str, table: str, request: Request) -> Response:
    def work(db: DbSession, settings: AppSettings, grant: delta_sharing.Grant) -> Response:
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
        body = _parse_json(raw)
        with database.unit_of_work(write=False) as db:
            grant = delta_sharing.authenticate(db, request.headers.get("authorization"))
            prepared = delta_sharing.prepare_query(db, settings, grant, share, schema, table, body)
        parts, wrote = delta_sharing.materialize(prepared, settings.section(DeliverySettings).sharing_file_rows)
        lines = delta_sharing.query_lines(settings, prepared, parts)
        with database.unit_of_work() as db:
            delta_sharing.record_query(db, prepared, lines, wrote)
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
    return FileResponse(path, media_type="application/vnd.apache.parquet")
