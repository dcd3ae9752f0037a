"""Portal pages of delivery: the seller's search for the source of a leaked copy."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from qianshu.accounts.deps import SignedInActor
from qianshu.catalog import service as catalog_service
from qianshu.core.actor import Actor
from qianshu.core.blobs import CHUNK
from qianshu.core.body_rules import BodyRule
from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.core.http import AppSettings, DbSession, PostedForm, form_fields, get_database, get_lang, render, see_other
from qianshu.core.read_models import extend
from qianshu.delivery import data_api, read_models, sandbox_service, service
from qianshu.delivery.decoys import MAX_DECOYS, DecoyTrace
from qianshu.delivery.detection import Detection
from qianshu.delivery.settings import DeliverySettings

if TYPE_CHECKING:
    from qianshu.catalog.models import Listing

router = APIRouter(include_in_schema=False)
FORM_ROOM_BYTES = 1024**2
BODY_RULES = [BodyRule("POST", r"/delivery/leaks",
                       lambda settings: settings.section(DeliverySettings).suspect_max_bytes + FORM_ROOM_BYTES)]


@dataclass
class LeakPage:
    listings: list[Listing]
    listing_id: int | None = None
    recipients: str = ""
    file_name: str = ""
    detection: Detection | None = None
    error: str = ""
    top: list[object] = field(default_factory=list)
    decoys: DecoyTrace | None = None  # where the seller allows decoy rows: whose are in the file


def _products(request: Request, actor: Actor) -> list[Listing]:
    """The seller's products; whoever has none of its own to look after (``catalog.personal``) is refused."""
    with get_database(request).unit_of_work(write=False) as db:
        return catalog_service.my_listings(db, actor)


@router.get("/delivery/leaks")
def leak_form(request: Request, actor: SignedInActor, listing_id: int | None = None) -> Response:
    """``listing_id`` preselects the product (the link from a contract's page)."""
    return render(request, "delivery/leaks.html", LeakPage(_products(request, actor), listing_id=listing_id))


@router.post("/delivery/leaks")
def find_leak(request: Request, actor: SignedInActor, settings: AppSettings, posted: PostedForm) -> Response:
    """Detection reads the whole file outside any transaction; the audit row is a short write after it."""
    upload = posted.get("file")
    recipients = str(posted.get("recipients") or "")
    page = LeakPage(_products(request, actor), recipients=recipients)
    try:
        try:
            page.listing_id = int(str(posted.get("listing_id") or ""))
        except ValueError:
            raise InvalidInput("Choose one of your products.", field="listing_id") from None
        database = get_database(request)
        with database.unit_of_work(write=False) as db:
            prepared = service.prepare_detection(db, actor, settings, page.listing_id, recipients.split())
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("Choose the file to examine.", field="file")
        page.file_name = upload.filename
        with tempfile.TemporaryDirectory(prefix="qianshu-suspect-") as folder:
            suspect = Path(folder) / "suspect"
            with suspect.open("wb") as out:
                shutil.copyfileobj(upload.file, out, CHUNK)
            page.detection = service.run_detection(prepared, suspect)
            if prepared.decoys is not None and prepared.decoys.count:
                page.decoys = service.run_trace(prepared, suspect)
        with database.unit_of_work() as db:
            service.record_detection(db, actor, prepared, page.detection, upload.filename)
            if page.decoys is not None:
                service.record_trace(db, actor, prepared, page.decoys, upload.filename)
    except QianshuError as exc:
        page.error = exc.render(get_lang(request))
        return render(request, "delivery/leaks.html", page, status_code=exc.status)
    page.top = list(page.detection.candidates[:10])
    return render(request, "delivery/leaks.html", page)


@router.get("/delivery/products/{listing_id:int}/watermark")
def policy_form(listing_id: int, request: Request, db: DbSession, actor: SignedInActor,
                settings: AppSettings) -> Response:
    return render(request, "delivery/policy.html", service.policy_view(db, actor, settings, listing_id))


@router.post("/delivery/products/{listing_id:int}/watermark")
def set_policy(listing_id: int, request: Request, db: DbSession, actor: SignedInActor, settings: AppSettings,
               posted: PostedForm) -> Response:
    form = form_fields(posted, lists=("identity",))
    try:
        tolerances = {}
        for field_name, value in form.items():
            if field_name.startswith("tol::") and str(value).strip():
                try:
                    tolerances[field_name[5:]] = float(str(value))
                except ValueError:
                    raise InvalidInput("The tolerance of {column} must be a number of at least 0.",
                                       field="tolerances", column=field_name[5:]) from None
        decoys_text = str(form.get("decoys") or "0").strip()
        if not decoys_text.isdigit():
            raise InvalidInput("Decoy rows per copy must be a whole number from 0 to {n}.", field="decoys",
                               n=MAX_DECOYS)
        service.set_watermark_policy(db, actor, settings, listing_id, list(form.get("identity", [])), tolerances,
                                     int(decoys_text))
    except QianshuError as exc:
        db.rollback()
        view = service.policy_view(db, actor, settings, listing_id)
        return render(request, "delivery/policy.html", replace(view, error=exc.render(get_lang(request))),
                      status_code=exc.status)
    return see_other(f"/delivery/products/{listing_id}/watermark")




# --- signed download links and Delta Sharing: their routes live in delivery/channels/pages.py ---
from qianshu.delivery.channels.pages import router as _channels  # noqa: E402 - kept in one block, to ease merges

router.include_router(_channels)

# --- the seller's settings: a product's sandbox, a contract's data API limits (portal forms) ---
from qianshu.delivery.settings_pages import router as _settings  # noqa: E402 - kept in one block, to ease merges

router.include_router(_settings)

# --- data API and sandbox (issue 13) ------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryPanel(read_models.DeliveryPanelView):
    """Delivery's panel on the exchange's contract page (both parties): its read model
    (``read_models.contract_panel``) and the partial that shows it."""

    template: str = "delivery/_contract_panel.html"


def contract_panel(db: Session, actor: Actor, contract: Any) -> DeliveryPanel | None:
    """The contract page's hook (the manifest's ``contract_panel``): for a download or Delta
    Sharing contract a link to its delivery page; for API and sandbox contracts the key, usage,
    budget and query log."""
    view = read_models.contract_panel(db, actor, contract)
    return None if view is None else extend(DeliveryPanel, view)


@dataclass
class ApiKeyPage:
    contract: Any
    key: str


@router.post("/delivery/contracts/{contract_id:int}/api-key")
def issue_api_key(contract_id: int, request: Request, db: DbSession, actor: SignedInActor) -> Response:
    """The new key is shown on this page once (a redirect would have to carry it)."""
    from qianshu.exchange.service import load_contract

    _key, raw = data_api.issue_key(db, actor, contract_id)
    return render(request, "delivery/api_key.html", ApiKeyPage(load_contract(db, contract_id), raw))


@dataclass(frozen=True)
class SandboxPage(read_models.SandboxQueryView):
    """The sandbox: its read model (``read_models.sandbox_query``) and the question asked, with its
    answer or why it was refused."""

    sql: str = ""
    result: Any = None
    error: str = ""
    example: str = "SELECT count(*) FROM data"


def _sandbox_page(request: Request, actor: Actor, settings: AppSettings, contract_id: int,
                  **values: Any) -> SandboxPage:
    with get_database(request).unit_of_work(write=False) as db:
        view = read_models.sandbox_query(db, actor, settings, contract_id)
        return extend(SandboxPage, view, **values)


@router.get("/delivery/contracts/{contract_id:int}/sandbox")
def sandbox_form(contract_id: int, request: Request, actor: SignedInActor, settings: AppSettings) -> Response:
    return render(request, "delivery/sandbox.html", _sandbox_page(request, actor, settings, contract_id))


@router.post("/delivery/contracts/{contract_id:int}/sandbox")
def sandbox_ask(contract_id: int, request: Request, actor: SignedInActor, settings: AppSettings,
                posted: PostedForm) -> Response:
    sql = str(posted.get("sql") or "")[:sandbox_service.MAX_SQL]
    try:
        result = sandbox_service.run_contract_query(get_database(request), actor, settings, contract_id, sql)
    except QianshuError as exc:
        page = _sandbox_page(request, actor, settings, contract_id, sql=sql, error=exc.render(get_lang(request)))
        return render(request, "delivery/sandbox.html", page, status_code=exc.status)
    page = _sandbox_page(request, actor, settings, contract_id, sql=sql, result=result)
    return render(request, "delivery/sandbox.html", page)
