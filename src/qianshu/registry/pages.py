"""Portal pages of the registry. Every form is validated whole (``core.forms.validate_form``),
calls one service function and redirects; a domain error rolls back and shows the registration
page again with the posted form's input kept and every error beside its field
(``core.http.form_refused``).

Three forms carry a file: the declaration (the purchase contract), the objection (its evidence)
and the report (its document). They are multipart, with the CSRF token in the action URL's query
string (core/csrf.py). Like every request body, theirs is read whole before the route runs
(web/body_limits.py), so a slow upload never holds the database (only the local copy of at most
``document_max_bytes`` into the blob store happens inside the transaction). The price is that the
body is read before the sender is known; each route's body limit (``BODY_RULES``) bounds that,
refusing a larger body with 413 as soon as it is known to be larger (at once when the body
declares its length).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.core.actor import Actor
from qianshu.core.blobs import CHUNK, BlobStore, open_blob_store
from qianshu.core.body_rules import BodyRule
from qianshu.core.errors import QianshuError
from qianshu.core.forms import Form, validate_form
from qianshu.core.http import (
    AppSettings,
    DbSession,
    PostedForm,
    Signer,
    form_fields,
    form_refused,
    get_database,
    get_lang,
    get_settings_dep,
    public_url,
    render,
    see_other,
    submit_form,
)
from qianshu.core.i18n import N_
from qianshu.core.identifiers import guizhou_divisions
from qianshu.core.read_models import extend
from qianshu.core.settings import Settings
from qianshu.core.signing import Ed25519Signer
from qianshu.core.threads import REQUEST_NICENESS, lower_this_thread
from qianshu.registry import certificate, documents, read_models, review, schemas, service
from qianshu.registry.models import (
    CLASSIFICATIONS,
    PERSONAL_INFO,
    QUALITY_INDICATORS,
    RIGHTS,
    SOURCES,
    UPDATE_FREQUENCIES,
    Certificate,
    Registration,
)
from qianshu.registry.settings import RegistrySettings
from qianshu.registry.verification import OnlineVerification, verify_online

router = APIRouter(include_in_schema=False)
# The three forms that carry a document may be as large as the document and room for the form's
# text fields; the certificate check, a certificate and room for the multipart framing. Bodies are
# read whole (and bounded) before any route runs: core/body_rules.py, web/body_limits.py.
FORM_ROOM_BYTES = 1024**2
BODY_RULES = [
    BodyRule("POST", r"/registry/\d+/(declaration|objection|report)",
             lambda settings: settings.section(RegistrySettings).document_max_bytes + FORM_ROOM_BYTES),
    BodyRule("POST", r"/registry/verify", lambda settings: certificate.MAX_CERTIFICATE_BYTES + 64 * 1024),
]
FormFile = Annotated[UploadFile | None, File()]


@dataclass
class ListPage:
    registrations: list[Registration]
    title: str
    can_register: bool = False
    explains_notice: bool = False  # the public notices page says how long a notice lasts
    form: Form = field(default_factory=Form)


def _my_list(db: Session, actor: Actor, form: Form | None = None) -> ListPage:
    mine = read_models.my_registrations(db, actor)
    return ListPage(mine.registrations, "My registrations", mine.can_register, form=form or Form())


@router.get("/registry")
def my_registrations(request: Request, db: DbSession, actor: CurrentActor) -> Response:
    if actor.user_id is None:
        return see_other("/registry/notices")
    return render(request, "registry/list.html", _my_list(db, actor))


@router.get("/registry/review")
def review_queue(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return render(request, "registry/list.html", ListPage(review.review_queue(db, actor), "Registration review"))


@router.get("/registry/notices")
def notices(request: Request, db: DbSession, actor: CurrentActor) -> Response:
    page = ListPage(service.public_notices(db) + service.issued_registrations(db, 50), "Public notices",
                    explains_notice=True)
    return render(request, "registry/list.html", page)


# The label each form's field has on the page (English message ids), for its error messages.
TITLE_LABELS = {"title_zh": N_("Title (Chinese)"), "title_en": N_("Title (English)")}
REASON_LABELS = {"reason": N_("Reason")}
FORM_LABELS: dict[str, dict[str, str]] = {
    "new": TITLE_LABELS,
    "declaration": TITLE_LABELS | {
        "description_zh": N_("Description (Chinese)"), "description_en": N_("Description (English)"),
        "industry_code": N_("Industry (GB/T 4754)"), "division_code": N_("Region covered"),
        "time_coverage_start": N_("Time coverage from"), "time_coverage_end": N_("Time coverage to"),
        "update_frequency": N_("Update frequency"), "source": N_("Source"), "lawful_basis": N_("Lawful basis"),
        "rights": N_("Rights registered"), "contract": N_("Purchase contract")},
    "objection": {"grounds": N_("Grounds of the objection"), "evidence": N_("Evidence")},
    "report": {"kind": N_("Kind"), "title": N_("Title"), "conclusion": N_("Conclusion"),
               "score": N_("Score (0-100, optional)"), "document": N_("Report document")},
    "approve": {"classification": N_("Classification"), "personal_info": N_("Personal information"),
                "reason": N_("Note"), "quality": N_("Quality")},
    "return": REASON_LABELS, "reject": REASON_LABELS, "revoke": REASON_LABELS, "decision": REASON_LABELS,
    "follow-up": {"reg_type": N_("Registration type"),
                  "transferee_uscc": N_("Receiving organisation USCC (transfer)"), "reason": N_("Reason")},
    "ingest-options": {"header_row": N_("Header row (empty: detect)"), "header_rows": N_("Header rows"),
                       "sheets": N_("Sheets to read (several are stacked; none chosen: the first sheet with data)")},
}


@router.post("/registry/new")
def create(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    def created(data: schemas.RegistrationCreate) -> Response:
        return see_other(f"/registry/{service.create_registration(db, actor, data).id}")

    return submit_form(request, db, schemas.RegistrationCreate, form_fields(posted), TITLE_LABELS, created,
                       lambda form: ("registry/list.html", _my_list(db, actor, form)))


@dataclass(frozen=True)
class DetailPage(read_models.RegistrationDetail):
    """The registration page: its read model (``read_models.registration_detail``: the data and
    what the viewer may do), the form that was posted (its input and errors), and the choices the
    forms offer."""

    form: Form = field(default_factory=Form)
    document_limit: str = ""
    divisions: dict[str, str] = field(default_factory=guizhou_divisions)
    rights: tuple[str, ...] = RIGHTS
    sources: tuple[str, ...] = SOURCES
    frequencies: tuple[str, ...] = UPDATE_FREQUENCIES
    classifications: tuple[str, ...] = CLASSIFICATIONS
    personal_info: tuple[str, ...] = PERSONAL_INFO
    indicators: tuple[str, ...] = QUALITY_INDICATORS


def _detail(db: Session, actor: Actor, request: Request, registration_id: int, form: Form | None = None) -> DetailPage:
    settings = get_settings_dep(request)
    detail = read_models.registration_detail(db, actor, settings, registration_id, get_lang(request))
    return extend(DetailPage, detail, form=form or Form(),
                      document_limit=service.size_text(settings.section(RegistrySettings).document_max_bytes))


def _viewer_db(request: Request, actor: CurrentActor) -> Iterator[Session]:
    """A signed-in viewer may be shown personal-data findings, whose every view is audited: a write
    transaction (core.http.WriteDbSession says why). An anonymous one is shown none and only reads,
    so the public page does not queue behind SQLite's one writer."""
    lower_this_thread(REQUEST_NICENESS)
    with get_database(request).unit_of_work(write=actor.is_authenticated) as session:
        yield session


@router.get("/registry/{registration_id:int}")
def detail(registration_id: int, request: Request, actor: CurrentActor,
           db: Annotated[Session, Depends(_viewer_db, scope="function")]) -> Response:
    return render(request, "registry/detail.html", _detail(db, actor, request, registration_id))


def _declaration(db: Session, actor: Actor, rid: int, form: dict[str, Any],
                 contract: documents.Received | None) -> str | None:
    data = validate_form(schemas.Declaration, {k: (v or None) if k.startswith("time_") else v
                                               for k, v in form.items()})
    service.update_declaration(db, actor, rid, data)
    return documents.attach_contract(db, actor, rid, contract).replaced if contract else None


def _approve(db: Session, actor: Actor, settings: Settings, signer: Ed25519Signer, rid: int,
             form: dict[str, Any]) -> None:
    quality = {i: {"score": form[f"q_{i}"], "reason": form.get(f"q_{i}_reason") or "-"}
               for i in QUALITY_INDICATORS if form.get(f"q_{i}")}
    data = validate_form(schemas.Approval, {"classification": form.get("classification") or None,
                                            "personal_info": form.get("personal_info") or None,
                                            "reason": form.get("reason", ""), "quality": quality})
    review.approve(db, actor, settings, rid, data)


def _objection(db: Session, actor: Actor, rid: int, form: dict[str, Any],
               evidence: documents.Received | None) -> None:
    data = validate_form(schemas.ObjectionIn, form)
    documents.file_objection(db, actor, rid, data.grounds, evidence)


def _report(db: Session, actor: Actor, signer: Ed25519Signer, rid: int, form: dict[str, Any],
            document: documents.Received | None) -> None:
    data = validate_form(schemas.ReportIn, {k: form.get(k) for k in ("kind", "title", "conclusion")}
                         | ({"score": form["score"]} if form.get("score") else {}))
    documents.attach_report(db, actor, signer, rid, data, document)


def _follow_up(db: Session, actor: Actor, settings: Settings, signer: Ed25519Signer, rid: int,
               form: dict[str, Any]) -> int:
    data = validate_form(schemas.FollowUpIn, form)
    return review.start_follow_up(db, actor, rid, data).id


def _ingest_options(db: Session, actor: Actor, settings: Settings, rid: int, form: dict[str, Any]) -> None:
    """Save how a spreadsheet is read, and read it again (the profile follows)."""
    data = validate_form(schemas.IngestOptionsIn, {
        "header_row": form.get("header_row") or None,
        "header_rows": {"1": 1, "2": 2}.get(form.get("header_rows") or "", form.get("header_rows") or None),
        "sheets": form.get("sheets") or None, "all_sheets": form.get("all_sheets") == "yes",
        "keep_totals": form.get("keep_totals") == "yes"})
    file_id = form.get("file_id") or ""
    service.set_ingest_options(db, actor, rid, int(file_id) if file_id.isdigit() else 0, data)
    service.start_processing(db, actor, settings, rid)


def _reason(form: dict[str, Any]) -> str:
    return validate_form(schemas.Reason, form).reason


Action = Callable[[Session, Actor, Settings, Ed25519Signer, int, dict[str, Any]], Any]
ACTIONS: dict[str, Action] = {
    "process": lambda db, a, s, g, rid, f: service.start_processing(db, a, s, rid),
    "submit": lambda db, a, s, g, rid, f: review.submit(db, a, rid),
    "take": lambda db, a, s, g, rid, f: review.take(db, a, rid),
    "approve": _approve,
    "return": lambda db, a, s, g, rid, f: review.return_for_changes(db, a, rid, _reason(f)),
    "reject": lambda db, a, s, g, rid, f: review.reject(db, a, rid, _reason(f)),
    "issue": lambda db, a, s, g, rid, f: review.issue_certificate(db, a, s, g, rid),
    "revoke": lambda db, a, s, g, rid, f: review.revoke(db, a, rid, _reason(f), g),
    "follow-up": _follow_up,
    "confirm-transfer": lambda db, a, s, g, rid, f: review.confirm_transfer(db, a, rid),
    "remove-file": lambda db, a, s, g, rid, f: service.remove_file(db, a, rid, int(f.get("file_id") or 0)),
    "ingest-options": lambda db, a, s, g, rid, f: _ingest_options(db, a, s, rid, f),
}


def _refused(request: Request, db: Session, actor: Actor, registration_id: int, exc: QianshuError,
             name: str, form: dict[str, Any]) -> Response:
    """The registration page again, the posted form ``name`` with its input and every error."""
    return form_refused(request, db, exc, form, FORM_LABELS.get(name, {}),
                        lambda kept: ("registry/detail.html", _detail(db, actor, request, registration_id, kept)),
                        name=name)


def _store_document(settings: Settings, store: BlobStore, upload: UploadFile | None,
                    field_name: str) -> documents.Received | None:
    """A form's file (already spooled by the form parser) into the blob store, through the same
    function as the API's raw uploads: the same limit and the same error, naming the field."""
    if upload is None or (not upload.filename and not upload.size):
        return None
    chunks = iter(lambda: upload.file.read(CHUNK), b"")
    limit = settings.section(RegistrySettings).document_max_bytes
    digest, size = service.store_upload(store, chunks, limit, field=field_name, declared_bytes=upload.size)
    return documents.Received(upload.filename or "", digest, size)


def _with_document(request: Request, db: Session, actor: Actor, settings: Settings, registration_id: int,
                   name: str, form: dict[str, Any], upload: UploadFile | None, field_name: str,
                   work: Callable[[documents.Received | None], str | None]) -> Response:
    """Store the form's file, then ``work`` with it; on a refusal, forget the stored file and show
    the page with the form's errors. ``work`` answers with the blob its change replaced, which is
    forgotten once the request has committed (a background task runs after the response)."""
    store = open_blob_store(settings)
    received = None
    try:
        received = _store_document(settings, store, upload, field_name)
        replaced = work(received)
    except BaseException as exc:
        db.rollback()
        if received is not None:
            service.forget_new_blob(db, store, received.sha256)
        if isinstance(exc, QianshuError):
            if exc.field == "name":  # the document's name (the API's path parameter): here, the file input
                exc.field = field_name
            return _refused(request, db, actor, registration_id, exc, name, form)
        raise
    response = see_other(f"/registry/{registration_id}")
    if replaced:
        response.background = BackgroundTask(documents.forget_unused, get_database(request), store, replaced)
    return response


# These three are declared before the generic action route, which would otherwise take their paths.
@router.post("/registry/{registration_id:int}/declaration")
def declaration_form(registration_id: int, request: Request, db: DbSession, actor: SignedInActor,
                     settings: AppSettings, posted: PostedForm, contract: FormFile = None) -> Response:
    form = form_fields(posted, lists=("rights",))
    return _with_document(request, db, actor, settings, registration_id, "declaration", form, contract, "contract",
                          lambda received: _declaration(db, actor, registration_id, form, received))


@router.post("/registry/{registration_id:int}/objection")
def objection_form(registration_id: int, request: Request, db: DbSession, actor: SignedInActor,
                   settings: AppSettings, posted: PostedForm, evidence: FormFile = None) -> Response:
    form = form_fields(posted)
    return _with_document(request, db, actor, settings, registration_id, "objection", form, evidence, "evidence",
                          lambda received: _objection(db, actor, registration_id, form, received))


@router.post("/registry/{registration_id:int}/report")
def report_form(registration_id: int, request: Request, db: DbSession, actor: SignedInActor,
                settings: AppSettings, signer: Signer, posted: PostedForm, document: FormFile = None) -> Response:
    form = form_fields(posted)
    return _with_document(request, db, actor, settings, registration_id, "report", form, document, "document",
                          lambda received: _report(db, actor, signer, registration_id, form, received))


@router.post("/registry/{registration_id:int}/{action}")
def act(registration_id: int, action: str, request: Request, db: DbSession, actor: SignedInActor,
        settings: AppSettings, signer: Signer, posted: PostedForm) -> Response:
    handler = ACTIONS.get(action)
    form = form_fields(posted, lists=("rights", "sheets"))
    if handler is None:
        return see_other(f"/registry/{registration_id}")
    try:
        result = handler(db, actor, settings, signer, registration_id, form)
    except QianshuError as exc:
        return _refused(request, db, actor, registration_id, exc, action, form)
    if action == "follow-up" and isinstance(result, int):
        return see_other(f"/registry/{result}")
    return see_other(f"/registry/{registration_id}")


@router.post("/registry/objections/{objection_id}/decision")
def decide(objection_id: int, request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    form = form_fields(posted)
    try:
        objection = review.decide_objection(db, actor, objection_id, form.get("uphold") == "yes", _reason(form))
    except QianshuError as exc:
        registration_id = review.objection_registration_id(db, objection_id)
        if registration_id is None or exc.status in (401, 403, 404):
            raise
        return _refused(request, db, actor, registration_id, exc, "decision", form)
    return see_other(f"/registry/{objection.registration_id}")


@dataclass
class CertificatePage:
    cert: Certificate
    reg: Registration
    qr_svg: str
    verify_url: str
    proof_json: str = ""
    proof: list[str] = field(default_factory=list)
    head: Any = None
    # Other capabilities' sections (finance: the asset's standing and pledges), from the
    # manifests' ``certificate_panel`` hooks: what a scanned QR code shows at once.
    panels: list[Any] = field(default_factory=list)


def _verify_url(request: Request, number: str) -> str:
    """The certificate's public address (page, PDF link, QR code): ``public_base_url``, never the Host header."""
    return public_url(request, "certificate_page", number=number)


@router.get("/registry/certificates/{number}")
def certificate_page(number: str, request: Request, db: DbSession, actor: CurrentActor) -> Response:
    cert = review.certificate_by_number(db, number)
    reg = db.get_one(Registration, cert.registration_id)
    url = _verify_url(request, cert.number)
    hooks = getattr(request.app.state, "certificate_panels", ())
    page = CertificatePage(cert, reg, certificate.qr_svg(url), url,
                           panels=[panel for hook in hooks if (panel := hook(db, actor, cert)) is not None])
    if cert.log_index is not None:
        try:
            from qianshu.translog import service as log

            entry = log.get_leaf(db, cert.log_index)
            bundle = log.proof_bundle(db, entry)
            if bundle:
                page.proof_json, page.proof = json.dumps(bundle), bundle["inclusion_path"]
                page.head = log.latest_tree_head(db)
        except (ImportError, QianshuError):
            pass
    return render(request, "registry/certificate.html", page)


@router.get("/registry/certificates/{number}/pdf")
def certificate_pdf(number: str, request: Request, db: DbSession, actor: CurrentActor) -> Response:
    cert = review.certificate_by_number(db, number)
    signed = {"certificate": cert.document,
              "signature": {"algorithm": cert.algorithm, "key_id": cert.key_id, "value": cert.signature}}
    body = certificate.pdf_bytes(signed, _verify_url(request, cert.number), revoked=cert.revoked_at is not None,
                                 font_path=get_settings_dep(request).section(RegistrySettings).certificate_font_path)
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{cert.number}.pdf"'})


@dataclass
class VerifyPage:
    result: OnlineVerification | None = None
    error: str = ""
    number: str = ""


MAX_NUMBER_CHARS = 40


@router.get("/registry/verify")
def verify_page(request: Request, db: DbSession, signer: Signer, actor: CurrentActor, number: str = "") -> Response:
    """The check page; with ``?number=`` (typed in, or from a certificate's QR code) it checks the
    certificate the exchange holds under that number, exactly as an uploaded file is checked."""
    number = number.strip()[:MAX_NUMBER_CHARS]
    if not number:
        return render(request, "registry/verify.html", VerifyPage())
    try:
        cert = review.certificate_by_number(db, number)
        signed = {"certificate": cert.document,
                  "signature": {"algorithm": cert.algorithm, "key_id": cert.key_id, "value": cert.signature}}
        result = verify_online(db, signer.public_key(), signed)
    except QianshuError as exc:
        return render(request, "registry/verify.html", VerifyPage(error=exc.render(get_lang(request)), number=number),
                      status_code=exc.status)
    return render(request, "registry/verify.html", VerifyPage(result=result, number=number))


@router.post("/registry/verify")
def verify(request: Request, db: DbSession, signer: Signer, actor: CurrentActor, form: PostedForm) -> Response:
    upload = form.get("certificate")
    try:
        raw = upload.file.read(certificate.MAX_CERTIFICATE_BYTES + 1) if upload is not None and \
            not isinstance(upload, str) else str(upload or "").encode()
        result = verify_online(db, signer.public_key(), certificate.parse_certificate_json(raw))
    except QianshuError as exc:
        return render(request, "registry/verify.html", VerifyPage(error=exc.render(get_lang(request))),
                      status_code=exc.status)
    return render(request, "registry/verify.html", VerifyPage(result=result))
