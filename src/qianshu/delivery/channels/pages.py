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

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from qianshu.accounts.deps import SignedInActor
from qianshu.core.actor import Actor
from qianshu.core.errors import QianshuError
from qianshu.core.http import (
    AppSettings,
    DbSession,
    PostedForm,
    form_fields,
    get_database,
    get_lang,
    render,
    see_other,
)
from qianshu.core.read_models import extend
from qianshu.delivery import delta_tokens, links, read_models
from qianshu.exchange import service as exchange_service

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class ContractDeliveryPage(read_models.ContractDeliveryView):
    """A contract's delivery: its read model (``read_models.contract_delivery``) and a refused step's error."""

    error: str = ""


def _delivery_page(request: Request, db: DbSession, actor: Actor, settings: AppSettings, contract_id: int,
                   error: str = "", status: int = 200) -> Response:
    view = read_models.contract_delivery(db, actor, settings, contract_id)
    page = extend(ContractDeliveryPage, view, error=error)
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
        row, token = delta_tokens.issue_token(db, actor, settings, contract_id)
    except QianshuError as exc:
        db.rollback()
        return _delivery_page(request, db, actor, settings, contract_id, exc.render(get_lang(request)), exc.status)
    body = json.dumps(delta_tokens.profile(settings, token, row), indent=2)
    name = delta_tokens.profile_file_name(exchange_service.load_contract(db, row.contract_id).number)
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@router.post("/delivery/contracts/{contract_id:int}/sharing-revoke")
def sharing_revoke(contract_id: int, request: Request, db: DbSession, actor: SignedInActor,
                   settings: AppSettings) -> Response:
    try:
        delta_tokens.revoke_tokens(db, actor, contract_id)
    except QianshuError as exc:
        db.rollback()
        return _delivery_page(request, db, actor, settings, contract_id, exc.render(get_lang(request)), exc.status)
    return see_other(f"/delivery/contracts/{contract_id}#sharing")
