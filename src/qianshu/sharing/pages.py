"""Portal pages of government data sharing: the catalogue, a resource (with the request form and,
for its owner, the upload of a feed version), the requests inbox for owners (approve, narrow,
reject), my requests, a request or grant (downloads, sandbox queries) and the access log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from qianshu.accounts import service as accounts
from qianshu.accounts.deps import SignedInActor, load_actor
from qianshu.core import policy
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
from qianshu.core.settings import Settings
from qianshu.core.streamed_form import FORM_SLACK, read_upload
from qianshu.registry.service import file_too_large
from qianshu.sharing import appeal_parts, appeals, grants, resource_pages, schemas, service
from qianshu.sharing.models import (
    GRANTED_STATUSES,
    SANDBOX_AGGREGATES,
    SHARING_CLASSES,
    SharingAccess,
    SharingAppeal,
    SharingExtension,
    SharingFile,
    SharingRequest,
    SharingResource,
)
from qianshu.sharing.permissions import request_resource, resource_of
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


@dataclass
class CataloguePage:
    resources: list[SharingResource]
    orgs: dict[int, Any]
    q: str = ""
    sharing_class: str = ""
    supervise: bool = False
    may_publish: bool = False


@router.get("/sharing")
def catalogue(request: Request, db: DbSession, actor: SignedInActor, q: str = "", sharing_class: str = "") -> Response:
    rows = service.list_resources(db, actor, query=q[:100],
                                  sharing_class=sharing_class if sharing_class in SHARING_CLASSES else "")
    return render(request, "sharing/catalogue.html", CataloguePage(
        rows, _org_names(db, (r.org_id for r in rows)), q[:100], sharing_class,
        policy.allows(actor, "sharing.supervise"),
        policy.allows(actor, "sharing.resource.publish", resource_of(actor.org_id or 0))))


@dataclass
class ResourcePage:
    resource: SharingResource
    owner: Any
    files: list[SharingFile]
    may_request: bool
    may_upload: bool
    form: Form = field(default_factory=Form)
    today: date = field(default_factory=service.today)
    sandbox: grants.SandboxRules = field(default_factory=grants.SandboxRules)
    numeric: list[str] = field(default_factory=list)  # fields that may have bounds
    aggregates: tuple[str, ...] = SANDBOX_AGGREGATES


def _resource_page(db: Any, actor: Actor, resource_id: int, form: Form | None = None) -> ResourcePage:
    resource = service.get_resource(db, actor, resource_id)
    owner = accounts.organisation_by_id(db, resource.org_id)
    own = policy.allows(actor, "sharing.file.upload", resource_of(resource.org_id))
    return ResourcePage(resource, owner, service.resource_files(db, resource.id) if own else [],
                        resource.sharing_class != "not_shared" and resource.org_id != actor.org_id
                        and policy.allows(actor, "sharing.request.create"), own, form or Form(),
                        sandbox=grants.SandboxRules.of(resource),
                        numeric=[str(f["name"]) for f in resource.fields if f["type"] in grants.NUMERIC_TYPES])


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
            return "sharing/catalogue.html", CataloguePage([], {})
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


@dataclass
class RequestsPage:
    box: str
    title: str
    requests: list[SharingRequest]
    resources: dict[int, SharingResource]
    orgs: dict[int, Any]
    boxes: dict[str, str]
    today: date = field(default_factory=service.today)
    appeals: dict[int, SharingAppeal] = field(default_factory=dict)  # by request id


@router.get("/sharing/requests")
def requests_page(request: Request, db: DbSession, actor: SignedInActor, box: str = "mine") -> Response:
    box = box if box in BOXES else "mine"
    rows = service.list_requests(db, actor, box)
    boxes = {k: v for k, v in BOXES.items() if k != "all" or policy.allows(actor, "sharing.supervise")}
    return render(request, "sharing/requests.html", RequestsPage(
        box, BOXES[box], rows, service.resources_by_id(db, (r.resource_id for r in rows)),
        _org_names(db, [o for r in rows for o in (r.owner_org_id, r.requester_org_id)]), boxes,
        appeals=appeals.appeals_by_request(db, [r.id for r in rows])))


@dataclass
class RequestPage:
    row: SharingRequest
    resource: SharingResource
    orgs: dict[int, Any]
    files: list[SharingFile]
    overdue: bool
    may_decide: bool
    may_use: bool
    form: Form = field(default_factory=Form)
    may_revoke: bool = False
    in_force: bool = False
    sql: str = ""
    answer: Any = None
    error: str = ""
    appeal: SharingAppeal | None = None
    appealed: appeal_parts.Parts | None = None  # what the appeal asks back
    left_out: list[str] = field(default_factory=list)  # the fields an appeal may ask back
    extensions: list[SharingExtension] = field(default_factory=list)
    timeline: list[appeals.Step] = field(default_factory=list)
    may_appeal: bool = False
    may_decide_appeal: bool = False
    may_ask_extension: bool = False
    extension_to_decide: SharingExtension | None = None


def _request_page(db: Any, actor: Actor, request_id: int, form: Form | None = None) -> RequestPage:
    row, files = service.granted_files(db, actor, request_id)
    res = request_resource(row.owner_org_id, row.requester_org_id)
    live = grants.in_force(row)
    appeal = appeals.appeal_of(db, row.id)
    extensions = appeals.extensions_of(db, row.id)
    pending = next((e for e in extensions if e.status == "pending"), None)
    return RequestPage(row, db.get_one(SharingResource, row.resource_id),
                       _org_names(db, (row.owner_org_id, row.requester_org_id)), files, service.is_overdue(row),
                       row.status == "pending" and policy.allows(actor, "sharing.request.decide", res),
                       policy.allows(actor, "sharing.grant.use", res), form or Form(),
                       row.status in GRANTED_STATUSES and policy.allows(actor, "sharing.grant.revoke", res), live,
                       appeal=appeal, appealed=appeal_parts.appealed(appeal, row) if appeal else None,
                       left_out=[f for f in row.fields if row.status != "narrowed" or f not in row.granted_fields],
                       extensions=extensions, timeline=appeals.timeline(db, row),
                       may_appeal=appeal is None and row.status in appeals.APPEALABLE
                       and policy.allows(actor, "sharing.appeal.create", res),
                       may_decide_appeal=appeal is not None and appeal.status == "pending"
                       and policy.allows(actor, "sharing.appeal.decide", res),
                       may_ask_extension=live and pending is None
                       and policy.allows(actor, "sharing.extension.ask", res),
                       extension_to_decide=pending if policy.allows(actor, "sharing.extension.decide", res) else None)


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
        page = _request_page(db, actor, request_id)
        page.sql, page.error = sql, exc.render(get_lang(request))
        return render(request, "sharing/request.html", page, status_code=exc.status)
    page = _request_page(db, actor, request_id)
    page.sql, page.answer = sql, answer
    return render(request, "sharing/request.html", page)


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
