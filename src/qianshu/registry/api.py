"""REST routes of the registry, under /api/v1/registrations. Handlers only translate HTTP.

Uploads — data files (``PUT /{id}/files/{name}``) and supporting documents (the purchase
contract, an objection's evidence, a report's document) — are a raw body streamed into the
blob store chunk by chunk (never held in memory) with the size limit of the settings; the
database is not held open while the bytes arrive (:func:`_receive`). Documents are sent as
attachments, never shown inline, and every download is audited (:func:`_send`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.requests import ClientDisconnect

from qianshu.accounts.deps import CurrentActor, SignedInActor, load_actor
from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.body_rules import BodyRule
from qianshu.core.errors import InvalidInput, NotFound
from qianshu.core.http import AppSettings, DbSession, Signer, WriteDbSession, body_chunks, get_database
from qianshu.core.openapi import JSON, RAW_UPLOAD, FileDownload, body_of, problems
from qianshu.core.settings import Settings
from qianshu.registry import certificate, documents, review, schemas, service
from qianshu.registry.settings import RegistrySettings
from qianshu.registry.verification import verify_online

log = logging.getLogger(__name__)
T = TypeVar("T")
# What a download may do in a browser that opens it anyway: nothing.
DOWNLOAD_HEADERS = {"Content-Security-Policy": "default-src 'none'; sandbox", "Cache-Control": "private, no-store"}
router = APIRouter(prefix="/api/v1/registrations", tags=["registry"])
_PREFIX = "/api/v1/registrations"


def _upload_limit(settings: Settings) -> int:
    return settings.section(RegistrySettings).upload_max_bytes


def _document_limit(settings: Settings) -> int:
    return settings.section(RegistrySettings).document_max_bytes


# Uploads stream into the blob store outside any transaction (``_receive``), bounded while they are
# read; the certificate check's body is read whole before the route runs (core/body_rules.py).
BODY_RULES = [
    BodyRule("PUT", rf"{_PREFIX}/[^/]+/files/.+", _upload_limit, stream=True),
    BodyRule("PUT", rf"{_PREFIX}/[^/]+/contract/.+", _document_limit, stream=True),
    BodyRule("PUT", rf"{_PREFIX}/objections/[^/]+/evidence/.+", _document_limit,
             stream=True),
    BodyRule("PUT", rf"{_PREFIX}/[^/]+/reports/[^/]+/document/.+", _document_limit,
             stream=True),
    BodyRule("POST", rf"{_PREFIX}/certificates/verify", lambda settings: certificate.MAX_CERTIFICATE_BYTES),
]


def _out(reg: Any) -> schemas.RegistrationOut:
    return schemas.RegistrationOut.model_validate(reg)


@router.get("/notices", response_model=list[schemas.RegistrationOut], summary="List registrations in public notice")
def notices(db: DbSession, actor: CurrentActor) -> object:
    return service.public_notices(db)


CERTIFICATE_BODY = body_of(JSON, "A certificate file as Qianshu issues it (at most 64 KiB).", {
    "type": "object", "required": ["certificate", "signature"],
    "properties": {"certificate": {"type": "object"},
                   "signature": {"type": "object", "required": ["algorithm", "key_id", "value"],
                                 "properties": {"algorithm": {"type": "string"}, "key_id": {"type": "string"},
                                                "value": {"type": "string"}}}}})


async def _certificate_body(request: Request) -> bytes:
    """The body, read before the route's transaction opens (the first dependency of the route)."""
    raw = await request.body()
    if len(raw) > certificate.MAX_CERTIFICATE_BYTES:
        raise InvalidInput("The certificate file is too large.", field="certificate")
    return raw


@router.post("/certificates/verify", summary="Verify a certificate", openapi_extra=CERTIFICATE_BODY)
def verify(raw: Annotated[bytes, Depends(_certificate_body)], request: Request, signer: Signer,
           actor: CurrentActor) -> dict[str, Any]:
    parsed = certificate.parse_certificate_json(raw)
    with get_database(request).unit_of_work(write=False) as db:  # checking writes nothing
        result = verify_online(db, signer.public_key(), parsed)
    return {k: v for k, v in result.__dict__.items() if k != "document"}


@router.get("/certificates/{number}", summary="Get a signed certificate", responses=problems(404))
def certificate_json(number: str, db: DbSession, signer: Signer, actor: CurrentActor) -> JSONResponse:
    cert = review.certificate_by_number(db, number)
    return JSONResponse(_signed(cert), headers={
        "Content-Disposition": f'attachment; filename="{cert.number}.json"'})


def _signed(cert: Any) -> dict[str, Any]:
    return {"certificate": cert.document,
            "signature": {"algorithm": cert.algorithm, "key_id": cert.key_id, "value": cert.signature}}


@router.post("", status_code=201, response_model=schemas.RegistrationOut, summary="Start a registration")
def create(data: schemas.RegistrationCreate, db: DbSession, actor: SignedInActor) -> object:
    return service.create_registration(db, actor, data)


@router.get("", response_model=list[schemas.RegistrationOut], summary="List your registrations")
def list_mine(db: DbSession, actor: SignedInActor,
              status: Annotated[str | None, Query(max_length=20)] = None) -> object:
    return service.list_registrations(db, actor, status)


@router.get("/{registration_id}", response_model=schemas.RegistrationOut,
            summary="Get a registration", responses=problems(404))
def detail(registration_id: int, db: DbSession, actor: CurrentActor) -> object:
    return service.get_registration(db, actor, registration_id)


async def _receive(request: Request, settings: Settings, max_bytes: int, field: str,
                   authorise: Callable[[Session, Actor], object],
                   record: Callable[[Session, Actor, str, int], tuple[T, str | None]]) -> T | Response:
    """A raw-body upload. Who is this and may they (``authorise``, a short transaction); the bytes
    into the blob store on a worker thread, no transaction open; then ``record(db, actor, digest,
    size)`` in a second transaction, answering with the response body and the blob the new one
    replaced (forgotten after the commit). A disconnect or an over-limit body leaves no blob; if
    ``record`` fails, the new blob is forgotten if this request created it and nothing else
    refers to it (otherwise the orphan sweep takes it later)."""
    database = get_database(request)
    actor = await load_actor(request)

    def may_they() -> None:  # a short transaction: may they upload?
        with database.unit_of_work() as db:
            authorise(db, actor)

    await run_in_threadpool(may_they)
    store = open_blob_store(settings)
    declared = request.headers.get("content-length", "")
    try:
        digest, size = await anyio.to_thread.run_sync(
            lambda: service.store_upload(store, body_chunks(request), max_bytes, field=field,
                                         declared_bytes=int(declared) if declared.isdigit() else None))
    except ClientDisconnect:
        return Response(status_code=499)
    def record_it() -> tuple[T, str | None]:
        with database.unit_of_work() as db:
            return record(db, actor, digest, size)

    try:
        answer, replaced = await run_in_threadpool(record_it)
    except BaseException:
        await run_in_threadpool(documents.forget_new, database, store, digest)
        raise
    await run_in_threadpool(documents.forget_unused, database, store, replaced)
    return answer


def _attachment(name: str) -> str:
    """Content-Disposition for a download (RFC 6266): an ASCII fallback name, and the real one
    in RFC 5987's UTF-8 form, which is how a Chinese name reaches the browser intact."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _send(request: Request, settings: Settings, actor: Actor,
          find: Callable[[Session, Actor], documents.Stored]) -> Response:
    """A stored document as an attachment of bytes, never rendered inline. ``find`` checks who
    may have it and writes the audit row, in a write transaction of its own (GET requests get a
    read session, which on SQLite may not turn into a writer)."""
    store = open_blob_store(settings)
    with get_database(request).unit_of_work() as db:
        stored = find(db, actor)
        if not store.exists(stored.sha256):
            log.error("document %s (%s) is missing from the blob store", stored.sha256, stored.name)
            raise NotFound("Not found.")
    return FileResponse(store.path(stored.sha256), media_type="application/octet-stream",
                        headers={"Content-Disposition": _attachment(stored.name), **DOWNLOAD_HEADERS})


def _document_out(attached: documents.Attached) -> tuple[schemas.DocumentOut, str | None]:
    return schemas.DocumentOut.model_validate(attached), attached.replaced


@router.put("/{registration_id}/files/{name}", status_code=201, response_model=schemas.FileOut,
            summary="Upload a data file", responses=problems(401, 403, 404, 409), openapi_extra=RAW_UPLOAD)
async def upload(registration_id: int, name: str, request: Request, settings: AppSettings) -> object:
    def may_upload(db: Session, actor: Actor) -> None:
        service.get_editable(db, actor, registration_id)
        service.clean_file_name(name)

    def record(db: Session, actor: Actor, digest: str, size: int) -> tuple[schemas.FileOut, None]:
        return schemas.FileOut.model_validate(service.add_file(db, actor, registration_id, name, digest, size)), None

    return await _receive(request, settings, settings.section(RegistrySettings).upload_max_bytes, "files",
                          may_upload, record)


def _document_routes(prefix: str, owner: str, kind: documents.Kind) -> None:
    """``PUT {prefix}/{name}`` stores, ``GET {prefix}`` sends the one document of this kind that an
    owner (a registration, an objection: the path parameter ``owner``) has; a new one replaces it.
    The name is a ``:path`` parameter so that a name with a slash ("..%2Fx") reaches the name check
    and is refused with a 422 naming the field, rather than matching no route."""
    # Path() as a default, not in Annotated: annotations are strings here (PEP 563), resolved in
    # the module's namespace, where a local alias could not be found.
    async def upload(name: str, request: Request, settings: AppSettings, owner_id: int = Path(alias=owner)) -> object:
        return await _receive(
            request, settings, settings.section(RegistrySettings).document_max_bytes, kind.label,
            lambda db, actor: kind.may_upload(db, actor, owner_id, name),
            lambda db, actor, digest, size: _document_out(
                kind.attach(db, actor, owner_id, documents.Received(name, digest, size))))

    def download(request: Request, actor: CurrentActor, settings: AppSettings,
                 owner_id: int = Path(alias=owner)) -> Response:
        return _send(request, settings, actor, lambda db, a: kind.download(db, a, owner_id))

    router.add_api_route(f"{prefix}/{{name:path}}", upload, methods=["PUT"], status_code=201,
                         response_model=schemas.DocumentOut, name=f"upload_{kind.label}",
                         summary=f"Upload the {kind.label} document", responses=problems(404, 409),
                         openapi_extra=RAW_UPLOAD)
    router.add_api_route(prefix, download, methods=["GET"], name=f"download_{kind.label}",
                         summary=f"Download the {kind.label} document", responses=problems(403, 404),
                         response_class=FileDownload)


_document_routes("/{registration_id}/contract", "registration_id", documents.CONTRACT)
_document_routes("/objections/{objection_id}/evidence", "objection_id", documents.EVIDENCE)


@router.put("/{registration_id}/reports/{report_id}/document/{name:path}", status_code=201,
            response_model=schemas.ReportDocumentOut,
            summary="Upload a report's document", responses=problems(401, 403, 404, 409), openapi_extra=RAW_UPLOAD)
async def upload_report_document(registration_id: int, report_id: int, name: str, request: Request,
                                 settings: AppSettings, signer: Signer) -> object:
    return await _receive(
        request, settings, settings.section(RegistrySettings).document_max_bytes, "document",
        lambda db, actor: documents.may_upload_report_document(db, actor, registration_id, report_id, name),
        lambda db, actor, digest, size: (schemas.ReportDocumentOut.model_validate(documents.attach_report_document(
            db, actor, signer, registration_id, report_id, documents.Received(name, digest, size))), None))


@router.get("/{registration_id}/reports/{report_id}/document",
            summary="Download a report's document", responses=problems(403, 404), response_class=FileDownload)
def download_report_document(registration_id: int, report_id: int, request: Request, actor: CurrentActor,
                             settings: AppSettings) -> Response:
    return _send(request, settings, actor,
                 lambda db, a: documents.report_document(db, a, registration_id, report_id))


@router.delete("/{registration_id}/files/{file_id}", status_code=204,
               summary="Remove a data file", responses=problems(404, 409))
def delete_file(registration_id: int, file_id: int, db: DbSession, actor: SignedInActor) -> None:
    service.remove_file(db, actor, registration_id, file_id)


# Not under /files/: that path streams raw uploads (BODY_RULES); this body is small JSON, bounded as usual.
@router.put("/{registration_id}/ingest-options/{file_id}", response_model=schemas.FileOut,
            summary="Choose how a spreadsheet is read", responses=problems(401, 403, 404, 409, 422))
def ingest_options(registration_id: int, file_id: int, data: schemas.IngestOptionsIn, db: DbSession,
                   actor: SignedInActor) -> object:
    """How to read a spreadsheet (header row, sheets, stacking, total rows); process again to apply."""
    return service.set_ingest_options(db, actor, registration_id, file_id, data)


@router.post("/{registration_id}/process", status_code=202, response_model=schemas.JobOut,
             summary="Start profiling and grading", responses=problems(404, 409))
def process(registration_id: int, db: DbSession, actor: SignedInActor, settings: AppSettings) -> object:
    service.start_processing(db, actor, settings, registration_id)
    return service.job_status(db, actor, registration_id)


@router.get("/{registration_id}/job", response_model=schemas.JobOut,
            summary="Get the processing job's progress", responses=problems(404))
def job(registration_id: int, db: DbSession, actor: SignedInActor, request: Request) -> object:
    out = service.job_status(db, actor, registration_id)
    reg = service.get_registration(db, actor, registration_id)
    out.error = service.pipeline_error(reg, getattr(request.state, "lang", "zh"))
    return out


@router.put("/{registration_id}/declaration", response_model=schemas.RegistrationOut,
            summary="Fill in the declaration", responses=problems(404, 409))
def declare(registration_id: int, data: schemas.Declaration, db: DbSession, actor: SignedInActor) -> object:
    return service.update_declaration(db, actor, registration_id, data)


@router.post("/{registration_id}/submit", response_model=schemas.RegistrationOut,
             summary="Submit a registration for review", responses=problems(404, 409))
def submit(registration_id: int, db: DbSession, actor: SignedInActor) -> object:
    return review.submit(db, actor, registration_id)


@router.get("/{registration_id}/columns", response_model=list[schemas.ColumnOut],
            summary="Get the column profiles", responses=problems(404))
def columns(registration_id: int, db: DbSession, actor: CurrentActor) -> object:
    service.get_registration(db, actor, registration_id)
    return service.column_profiles(db, registration_id)


@router.get("/{registration_id}/pii", response_model=list[schemas.PiiOut],
            summary="Get the personal-data findings", responses=problems(404))
def pii(registration_id: int, db: WriteDbSession, actor: SignedInActor) -> object:
    return service.pii_findings(db, actor, registration_id)


@router.get("/{registration_id}/quality", response_model=list[schemas.QualityOut],
            summary="Get the quality report", responses=problems(404))
def quality(registration_id: int, db: DbSession, actor: CurrentActor, request: Request) -> object:
    from qianshu.core.i18n import translate

    service.get_registration(db, actor, registration_id)
    lang = getattr(request.state, "lang", "zh")
    return [schemas.QualityOut(indicator=q.indicator, score=q.score, basis=q.basis,
                               reason=translate(q.reason, lang, **(q.detail or {}).get("params", {})))
            for q in service.quality_report(db, registration_id)]


@router.get("/{registration_id}/history", summary="Get a registration's history", responses=problems(404))
def history(registration_id: int, db: DbSession, actor: CurrentActor) -> list[dict[str, Any]]:
    service.get_registration(db, actor, registration_id)
    return [{"at": h.at, "action": h.action, "from": h.from_status, "to": h.to_status, "by": h.actor_label,
             "reason": h.reason} for h in service.history(db, registration_id)]


@router.post("/{registration_id}/review/take", response_model=schemas.RegistrationOut,
             summary="Take a registration for review", responses=problems(404, 409))
def take(registration_id: int, db: DbSession, actor: SignedInActor) -> object:
    return review.take(db, actor, registration_id)


@router.post("/{registration_id}/review/approve", response_model=schemas.RegistrationOut,
             summary="Approve a registration", responses=problems(404, 409))
def approve(registration_id: int, data: schemas.Approval, db: DbSession, actor: SignedInActor,
            settings: AppSettings) -> object:
    return review.approve(db, actor, settings, registration_id, data)


@router.post("/{registration_id}/review/return", response_model=schemas.RegistrationOut,
             summary="Return a registration for changes", responses=problems(404, 409))
def return_(registration_id: int, data: schemas.Reason, db: DbSession, actor: SignedInActor) -> object:
    return review.return_for_changes(db, actor, registration_id, data.reason)


@router.post("/{registration_id}/review/reject", response_model=schemas.RegistrationOut,
             summary="Reject a registration", responses=problems(404, 409))
def reject(registration_id: int, data: schemas.Reason, db: DbSession, actor: SignedInActor) -> object:
    return review.reject(db, actor, registration_id, data.reason)


@router.post("/{registration_id}/objections", status_code=201,
             summary="Object to a registration in public notice", responses=problems(404, 409))
def object_to(registration_id: int, data: schemas.ObjectionIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    objection = review.file_objection(db, actor, registration_id, data.grounds)
    return {"id": objection.id, "status": objection.status}


@router.post("/objections/{objection_id}/decision", summary="Decide an objection", responses=problems(404, 409))
def decide(objection_id: int, data: schemas.ObjectionDecision, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    objection = review.decide_objection(db, actor, objection_id, data.uphold, data.reason)
    return {"id": objection.id, "status": objection.status}


@router.post("/{registration_id}/reports", status_code=201,
             summary="Attach a service provider's report", responses=problems(404, 409))
def attach_report(registration_id: int, data: schemas.ReportIn, db: DbSession, actor: SignedInActor,
                  signer: Signer) -> dict[str, Any]:
    report = review.attach_report(db, actor, signer, registration_id, data)
    return {"id": report.id, "signature": report.signature, "key_id": report.key_id}


@router.post("/{registration_id}/issue", summary="Issue the certificate", responses=problems(404, 409))
def issue(registration_id: int, db: DbSession, actor: SignedInActor, settings: AppSettings,
          signer: Signer) -> dict[str, Any]:
    return _signed(review.issue_certificate(db, actor, settings, signer, registration_id))


@router.post("/{registration_id}/revoke", summary="Revoke a certificate", responses=problems(404, 409))
def revoke(registration_id: int, data: schemas.Reason, db: DbSession, actor: SignedInActor,
           signer: Signer) -> dict[str, Any]:
    cert = review.revoke(db, actor, registration_id, data.reason, signer)
    return {"number": cert.number, "revoked_at": cert.revoked_at, "reason": cert.revocation_reason}


@router.post("/{registration_id}/follow-ups", status_code=201, response_model=schemas.RegistrationOut,
             summary="Start a follow-up registration", responses=problems(404, 409))
def follow_up(registration_id: int, data: schemas.FollowUpIn, db: DbSession, actor: SignedInActor) -> object:
    return review.start_follow_up(db, actor, registration_id, data)


@router.post("/{registration_id}/confirm-transfer", response_model=schemas.RegistrationOut,
             summary="Confirm a transfer of rights", responses=problems(404, 409))
def confirm_transfer(registration_id: int, db: DbSession, actor: SignedInActor) -> object:
    return review.confirm_transfer(db, actor, registration_id)
