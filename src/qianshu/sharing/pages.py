"""Portal pages of government data sharing: the catalogue, a resource (with the request form and,
for its owner, the upload of a feed version), the requests inbox for owners (approve, narrow,
reject), my requests, a request or grant (downloads, sandbox queries) and the access log. What each
page shows and which of its forms the viewer may use come from its read model (``read_models.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from qianshu.accounts import service as accounts
from qianshu.accounts.deps import SignedInActor, load_actor
from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.body_rules import BodyRule
from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.core.forms import Form, validate_form
from qianshu.core.http import (
    AppSettings,
    DbSession,
    PostedForm,
    WriteDbSession,
    body_chunks,
    form_fields,
    form_refused,
    get_database,
    get_lang,
    receive_streamed,
    render,
    see_other,
    show_form_errors,
    submit_form,
)
from qianshu.core.i18n import N_
from qianshu.core.read_models import extend
from qianshu.core.settings import Settings
from qianshu.core.streamed_form import FORM_SLACK, read_upload
from qianshu.registry.service import file_too_large
from qianshu.sharing import appeals, grants, read_models, resource_pages, schemas, service
from qianshu.sharing.models import SANDBOX_AGGREGATES, SHARING_CLASSES, SharingAccess, SharingRequest, SharingResource
from qianshu.sharing.settings import SharingSettings

router = APIRouter(include_in_schema=False)
router.include_router(resource_pages.router)  # publishing a resource, its sandbox policy
REQUEST_LABELS = {"resource_id": N_("Resource"), "purpose": N_("Purpose"), "fields": N_("Fields"),
                  "period_start": N_("Period from"), "period_end": N_("Period to"), "access_type": N_("Access")}
DECISION_LABELS = {"decision": N_("Decision"), "fields": N_("Fields"), "period_start": N_("Period from"),
                   "period_end": N_("Period to"), "reason": N_("Reason"),
                   "expires_on": N_("Grant ends (empty: with the granted period)")}
REVOKE_LABELS = {"reason": N_("Reason")}
APPEAL_LABELS = {"reason": N_("Why the decision should be changed"), "fields": N_("Fields appealed"),
                 "period_start": N_("Period from"), "period_end": N_("Period to")}
APPEAL_DECISION_LABELS = {"decision": N_("Decision"), "reason": N_("Reason"), "fields": N_("Fields granted"),
                          "period_start": N_("Period from"), "period_end": N_("Period to"),
                          "expires_on": N_("Grant ends (empty: with the period granted)")}
EXTENSION_LABELS = {"until": N_("Use the grant until"), "reason": N_("Reason")}
EXTENSION_DECISION_LABELS = {"decision": N_("Decision"), "expires_on": N_("New end date (empty: the one asked)"),
                             "reason": N_("Reason")}
UPLOAD_LABELS = {"file": N_("File"), "as_of": N_("Data as of")}
POLICY_LABELS = {"k": N_("Smallest group shown (k)"), "aggregates": N_("Aggregates allowed"),
                 "epsilon": N_("Differential privacy: epsilon per query (empty: off)"),
                 "budget": N_("Privacy budget of each grant"), "bounds": N_("Bounds of numeric fields")}
BOXES = {"incoming": N_("Requests for our resources"), "mine": N_("My requests"),
         "all": N_("All requests (supervision)")}


def _org_names(db: Any, ids: Any) -> dict[int, Any]:
    return accounts.organisations_by_id(db, set(ids))


@dataclass(frozen=True)
class CataloguePage(read_models.CatalogueView):
    """The catalogue: its read model (``read_models.catalogue``) and the search asked."""

    q: str = ""
    sharing_class: str = ""


@router.get("/sharing")
def catalogue(request: Request, db: DbSession, actor: SignedInActor, q: str = "", sharing_class: str = "") -> Response:
    sharing_class = sharing_class if sharing_class in SHARING_CLASSES else ""
    view = read_models.catalogue(db, actor, q[:100], sharing_class)
    return render(request, "sharing/catalogue.html", extend(CataloguePage, view, q=q[:100],
                                                            sharing_class=sharing_class))


@dataclass(frozen=True)
class ResourcePage(read_models.ResourceView):
    """A resource: its read model (``read_models.resource_view``), the posted form, refused ("request",
    "upload", "sandbox"), and the choices."""

    form: Form = field(default_factory=Form)
    today: date = field(default_factory=service.today)
    aggregates: tuple[str, ...] = SANDBOX_AGGREGATES


def _resource_page(db: Any, actor: Actor, resource_id: int, form: Form | None = None) -> ResourcePage:
    return extend(ResourcePage, read_models.resource_view(db, actor, resource_id), form=form or Form())


@router.get("/sharing/resources/{resource_id:int}")
def resource_page(resource_id: int, request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return render(request, "sharing/resource.html", _resource_page(db, actor, resource_id))


@router.post("/sharing/requests")
def create_request(request: Request, db: DbSession, actor: SignedInActor, settings: AppSettings,
                   posted: PostedForm) -> Response:
    form = form_fields(posted, lists=("fields",))
    try:
        resource_id = int(str(form.get("resource_id", "")))
    except ValueError:
        resource_id = 0

    def created(data: schemas.RequestIn) -> Response:
        return see_other(f"/sharing/requests/{service.request_data(db, actor, settings, data).id}")

    def again(kept: Form) -> tuple[str, Any]:
        if resource_id <= 0:
            return "sharing/catalogue.html", extend(CataloguePage, read_models.catalogue(db, actor))
        return "sharing/resource.html", _resource_page(db, actor, resource_id, kept)

    return submit_form(request, db, schemas.RequestIn, form, REQUEST_LABELS, created, again, name="request")


def _upload_limit(settings: Settings) -> int:
    return settings.section(SharingSettings).max_file_bytes + FORM_SLACK


# The feed upload form streams its file into the blob store as the API does (core/streamed_form.py),
# so it takes files up to ``[sharing] max_file_bytes``, not the portal's default body limit.
BODY_RULES = [BodyRule("POST", r"/sharing/resources/\d+/files", _upload_limit, stream=True)]


@router.post("/sharing/resources/{resource_id:int}/files")
async def upload(resource_id: int, request: Request, settings: AppSettings) -> Response:
    """Who may upload is asked first, in a short transaction; then the form's file streams into the
    blob store with no transaction open, and the version is recorded in a second one. A refusal shows
    the form again with the error beside the field, and leaves nothing behind."""
    return await receive_streamed(request, load_actor, lambda actor: _receive_upload(
        request, actor, settings, resource_id))


def _receive_upload(request: Request, actor: Actor, settings: Settings, resource_id: int) -> Response:
    database, blobs = get_database(request), open_blob_store(settings)
    limit = settings.section(SharingSettings).max_file_bytes
    data: dict[str, str] = {}

    def store(name: str, chunks: Iterator[bytes]) -> tuple[str, int, service.FeedShape]:
        service.file_name(name)
        return service.store_feed(blobs, settings, chunks)

    try:
        with database.unit_of_work() as db:
            service.resource_for_upload(db, actor, resource_id)
        with read_upload(request.headers, body_chunks(request), limit, file_too_large(limit, "file"), store,
                         discard=lambda kept: blobs.discard_new(kept[0]), seen=data) as got:
            try:
                as_of = date.fromisoformat(got.fields.get("as_of", ""))
            except ValueError:
                raise InvalidInput("Give the date the data is as of (YYYY-MM-DD).", field="as_of") from None
            with database.unit_of_work() as db:
                service.record_file(db, actor, resource_id, got.name, *got.kept, as_of)
    except QianshuError as exc:
        if exc.status in (401, 403, 404):
            raise
        with database.unit_of_work(write=False) as db:
            return show_form_errors(request, exc, data, UPLOAD_LABELS, lambda kept: (
                "sharing/resource.html", _resource_page(db, actor, resource_id, kept)), name="upload")
    return see_other(f"/sharing/resources/{resource_id}")


def _policy_form(posted: Any) -> dict[str, Any]:
    """The sandbox policy form's values as ``SandboxPolicyIn`` reads them."""
    form = form_fields(posted, lists=("aggregates",))
    data: dict[str, Any] = {"k": form.get("k") or None, "aggregates": form.get("aggregates", []),
                            "epsilon": form.get("epsilon") or None, "budget": form.get("budget") or None}
    bounds: dict[str, list[str]] = {}
    for key, value in form.items():
        if key.startswith("bounds.") and str(value).strip():
            _b, name, end = [*key.split("."), "", ""][:3]
            bounds.setdefault(name, ["", ""])[0 if end == "low" else 1] = str(value).strip()
    data["bounds"] = bounds  # one end missing: refused, naming the bounds
    return {k: v for k, v in data.items() if v is not None}


@router.post("/sharing/resources/{resource_id:int}/sandbox-policy")
def sandbox_policy(resource_id: int, request: Request, db: DbSession, actor: SignedInActor,
                   posted: PostedForm) -> Response:
    data = _policy_form(posted)
    kept = form_fields(posted, lists=("aggregates",))

    def saved(body: schemas.SandboxPolicyIn) -> Response:
        grants.set_sandbox_policy(db, actor, service.get_resource(db, actor, resource_id), body)
        return see_other(f"/sharing/resources/{resource_id}#sandbox-policy")

    try:
        return saved(validate_form(schemas.SandboxPolicyIn, data))
    except QianshuError as exc:
        if exc.status in (401, 403, 404):
            raise
        return form_refused(request, db, exc, kept, POLICY_LABELS,
                            lambda form: ("sharing/resource.html", _resource_page(db, actor, resource_id, form)),
                            name="sandbox")


@dataclass(frozen=True)
class RequestsPage(read_models.RequestsView):
    """A box of requests: its read model (``read_models.requests_box``) and the boxes' labels."""

    title: str = ""
    boxes: dict[str, str] = field(default_factory=dict)  # the boxes the viewer may open, by key
    today: date = field(default_factory=service.today)


@router.get("/sharing/requests")
def requests_page(request: Request, db: DbSession, actor: SignedInActor, box: str = "mine") -> Response:
    view = read_models.requests_box(db, actor, box if box in BOXES else "mine")
    boxes = {k: v for k, v in BOXES.items() if k != "all" or view.may_supervise}
    return render(request, "sharing/requests.html", extend(RequestsPage, view, title=BOXES[view.box], boxes=boxes))


@dataclass(frozen=True)
class RequestPage(read_models.RequestView):
    """A request or grant: its read model (``read_models.request_view``), the posted form, refused, and
    a sandbox query with its answer or its error."""

    form: Form = field(default_factory=Form)
    sql: str = ""
    answer: Any = None
    error: str = ""


def _request_page(db: Any, actor: Actor, request_id: int, form: Form | None = None, **query: Any) -> RequestPage:
    return extend(RequestPage, read_models.request_view(db, actor, request_id), form=form or Form(), **query)


@router.get("/sharing/requests/{request_id:int}")
def request_page(request_id: int, request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return render(request, "sharing/request.html", _request_page(db, actor, request_id))


@router.post("/sharing/requests/{request_id:int}/decision")
def decide(request_id: int, request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    form = form_fields(posted, lists=("fields",))
    data = {k: v for k, v in form.items() if v not in ("", [])}
    if form.get("decision") != "narrow":
        data.pop("fields", None)

    def decided(decision: schemas.DecisionIn) -> Response:
        service.decide_request(db, actor, request_id, decision)
        return see_other(f"/sharing/requests/{request_id}")

    return submit_form(request, db, schemas.DecisionIn, data, DECISION_LABELS, decided,
                       lambda kept: ("sharing/request.html", _request_page(db, actor, request_id, kept)),
                       name="decision")


@router.post("/sharing/requests/{request_id:int}/revoke")
def revoke(request_id: int, request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    data = {"reason": str(posted.get("reason") or "")}

    def revoked(body: schemas.RevokeIn) -> Response:
        grants.revoke(db, actor, service.load_request(db, actor, request_id, "sharing.grant.revoke"), body.reason)
        return see_other(f"/sharing/requests/{request_id}")

    return submit_form(request, db, schemas.RevokeIn, data, REVOKE_LABELS, revoked,
                       lambda kept: ("sharing/request.html", _request_page(db, actor, request_id, kept)),
                       name="revoke")


def _second_look(request: Request, db: Any, actor: Actor, request_id: int, schema: Any, data: dict[str, Any],
                 labels: dict[str, str], name: str, act: Any) -> Response:
    """An appeal, an extension or a decision on one: the service's refusal is shown beside the
    form's fields (the page again, nothing written)."""
    def done(body: Any) -> Response:
        act(service.load_request(db, actor, request_id), body)
        return see_other(f"/sharing/requests/{request_id}")

    return submit_form(request, db, schema, data, labels, done,
                       lambda kept: ("sharing/request.html", _request_page(db, actor, request_id, kept)), name=name)


def _filled(posted: Any, *names: str) -> dict[str, Any]:
    return {n: str(posted.get(n) or "") for n in names if str(posted.get(n) or "").strip()}


def _parts_form(posted: Any, *names: str) -> dict[str, Any]:
    """A form naming parts of a request: its text fields and, when the form offers the parts (its
    ``parts`` marker), the ``fields`` ticked (none ticked: an empty list, which is not "all")."""
    data = _filled(posted, *names, "period_start", "period_end")
    if posted.get("parts"):
        data["fields"] = form_fields(posted, lists=("fields",)).get("fields", [])
    return data


@router.post("/sharing/requests/{request_id:int}/appeal")
def appeal(request_id: int, request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    return _second_look(request, db, actor, request_id, schemas.AppealIn, _parts_form(posted, "reason"),
                        APPEAL_LABELS, "appeal", lambda row, body: appeals.file_appeal(db, actor, row, body))


@router.post("/sharing/requests/{request_id:int}/appeal/decision")
def decide_appeal(request_id: int, request: Request, db: DbSession, actor: SignedInActor,
                  posted: PostedForm) -> Response:
    data = _parts_form(posted, "decision", "reason", "expires_on")
    if data.get("decision") != "grant_part":  # the parts are what is granted in part only
        data = {k: v for k, v in data.items() if k not in ("fields", "period_start", "period_end")}
    return _second_look(request, db, actor, request_id, schemas.AppealDecisionIn, data, APPEAL_DECISION_LABELS,
                        "appeal_decision", lambda row, body: appeals.decide_appeal(db, actor, row, body))


@router.post("/sharing/requests/{request_id:int}/extensions")
def ask_extension(request_id: int, request: Request, db: DbSession, actor: SignedInActor,
                  posted: PostedForm) -> Response:
    return _second_look(request, db, actor, request_id, schemas.ExtensionIn, _filled(posted, "until", "reason"),
                        EXTENSION_LABELS, "extension", lambda row, body: appeals.ask_extension(db, actor, row, body))


@router.post("/sharing/requests/{request_id:int}/extensions/{extension_id:int}/decision")
def decide_extension(request_id: int, extension_id: int, request: Request, db: DbSession, actor: SignedInActor,
                     posted: PostedForm) -> Response:
    return _second_look(request, db, actor, request_id, schemas.ExtensionDecisionIn,
                        _filled(posted, "decision", "expires_on", "reason"), EXTENSION_DECISION_LABELS,
                        "extension_decision",
                        lambda row, body: appeals.decide_extension(db, actor, row, extension_id, body))


@router.get("/sharing/requests/{request_id:int}/files/{file_id:int}")
def download(request_id: int, file_id: int, db: WriteDbSession, actor: SignedInActor,
             settings: AppSettings) -> Response:
    found = service.download(db, actor, open_blob_store(settings), request_id, file_id)
    return Response(found.body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{found.filename}"'})


@router.post("/sharing/requests/{request_id:int}/query")
def query(request_id: int, request: Request, db: DbSession, actor: SignedInActor, settings: AppSettings,
          posted: PostedForm) -> Response:
    sql = str(posted.get("sql") or "")[:10_000]
    try:
        answer = service.sandbox_query(db, actor, open_blob_store(settings), settings, request_id, sql)
    except QianshuError as exc:
        db.rollback()
        return render(request, "sharing/request.html",
                      _request_page(db, actor, request_id, sql=sql, error=exc.render(get_lang(request))),
                      status_code=exc.status)
    return render(request, "sharing/request.html", _request_page(db, actor, request_id, sql=sql, answer=answer))


@dataclass
class AccessPage:
    accesses: list[SharingAccess]
    requests: dict[int, SharingRequest]
    resources: dict[int, SharingResource]
    orgs: dict[int, Any]


@router.get("/sharing/accesses")
def accesses(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    rows = service.access_log(db, actor)
    requests = {r.id: r for r in (db.get_one(SharingRequest, i) for i in {a.request_id for a in rows})}
    return render(request, "sharing/accesses.html", AccessPage(
        rows, requests, service.resources_by_id(db, (r.resource_id for r in requests.values())),
        _org_names(db, [o for a in rows for o in (a.owner_org_id, a.grantee_org_id)])))
