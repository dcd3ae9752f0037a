"""Portal pages of the catalogue: search, product page, listing editor, listing review,
follows and notifications (the demand pool is demand_pages.py). Each handler parses input, calls the service, renders;
every form goes through ``core.http.submit_form`` (the whole form validated at once, and on a
domain error the same page again with every field's error beside its field)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.catalog import (
    dcat,
    demand_pages,
    follows,
    policy,
    pricing,
    product,
    read_models,
    resources,
    service,
    view_counts,
)
from qianshu.catalog import schemas as s
from qianshu.catalog.models import DATA_TYPES, DELIVERY_MODES, Listing
from qianshu.catalog.search import SearchQuery, SearchResult
from qianshu.catalog.views import FACET_TITLES, Labels, notification_out
from qianshu.catalog.vocab import LICENCES
from qianshu.core.actor import Actor
from qianshu.core.errors import InvalidInput
from qianshu.core.forms import Form
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
    submit_form,
)
from qianshu.core.i18n import N_, translate
from qianshu.core.read_models import extend

if TYPE_CHECKING:
    from qianshu.registry.models import Registration

LIST_FIELDS = ("delivery_modes", "purposes")  # checkbox groups keep every value
router = APIRouter(include_in_schema=False)
SEARCH_PARAMS = ("q", "industry", "region", "data_type", "delivery", "price", "classification", "frequency", "sort")


# The label each form's field has on the page (English message ids), for its error messages.
LISTING_LABELS = {
    "registration_id": N_("Registration"), "data_type": N_("Data type"), "licence": N_("Licence"),
    "title_zh": N_("Title (Chinese)"), "title_en": N_("Title (English)"),
    "description_zh": N_("Description (Chinese)"), "description_en": N_("Description (English)"),
    "tags": N_("Tags (comma separated)"), "note": N_("Change note"), "version": N_("Version"),
}
PLAN_LABELS = {
    "name_zh": N_("Plan name (Chinese)"), "name_en": N_("Plan name (English)"), "kind": N_("Kind"),
    "price": N_("Price (yuan)"), "delivery_modes": N_("Delivery"), "policy.purposes": N_("Permitted purposes"),
    "policy.term_days": N_("Term (days, empty for no limit)"), "policy.territory": N_("Territory"),
    "confirm_personal_data": N_("Confirm the download of sensitive personal information"),
}
ACTION_LABELS = {"reason": N_("Reason"),
                 "confirm_personal_data": N_("Confirm the download of sensitive personal information")}
def _tags(form: dict[str, Any]) -> dict[str, Any]:
    return form | {"tags": [t for t in str(form.get("tags", "")).replace("，", ",").split(",") if t.strip()][:20]}


# --- search ------------------------------------------------------------------------------------


class SearchLinks:
    """Links that change one search parameter (a facet value, the page) and keep the others."""

    def __init__(self, params: dict[str, str]) -> None:
        self.params = params

    def _url(self, **changes: str) -> str:
        params = {**self.params, "page": "", **changes}
        return "/catalog?" + urlencode({k: v for k, v in params.items() if v})

    def with_(self, name: str, value: str) -> str:
        return self._url(**{name: value})

    def without(self, name: str) -> str:
        return self._url(**{name: ""})

    def page(self, number: int) -> str:
        return self._url(page=str(number))


@dataclass
class SearchPage:
    result: SearchResult | None
    params: dict[str, str]
    labels: Labels
    facet_titles: dict[str, str]
    links: SearchLinks
    error: str = ""
    may_save_search: bool = False
    may_offer: bool = False


def _int(value: str, default: int) -> int:
    return int(value) if value.lstrip("-").isdigit() and len(value) < 9 else default


@router.get("/catalog", response_class=HTMLResponse)
def search_page(request: Request, db: DbSession, actor: CurrentActor) -> Response:
    params = {k: request.query_params.get(k, "")[:600] for k in (*SEARCH_PARAMS, "page")}
    query = SearchQuery(
        q=params["q"],
        industry=params["industry"],
        region=params["region"],
        data_type=params["data_type"],
        delivery=params["delivery"],
        price=params["price"],
        classification=params["classification"],
        frequency=params["frequency"],
        sort=params["sort"] or "relevance",
        page=_int(params["page"], 1),
        per_page=20,
    )
    labels = Labels(get_lang(request))
    try:
        view = read_models.catalogue(db, actor, query)
    except InvalidInput as exc:
        return render(
            request,
            "catalog/search.html",
            SearchPage(None, params, labels, FACET_TITLES, SearchLinks(params), exc.render(get_lang(request))),
            status_code=422,
        )
    return render(request, "catalog/search.html", SearchPage(view.result, params, labels, FACET_TITLES,
                                                             SearchLinks(params), may_save_search=view.may_save_search,
                                                             may_offer=view.may_offer))


# --- my products, editor ----------------------------------------------------------------------------


@dataclass
class MinePage:
    listings: list[Listing]
    registrations: list[Registration]
    labels: Labels
    data_types: tuple[str, ...] = DATA_TYPES
    licences: tuple[str, ...] = tuple(LICENCES)
    form: Form = field(default_factory=Form)
    sensitive_kinds: dict[int, list[str]] = field(default_factory=dict)  # registration → kinds the scan found


def _mine(request: Request, db: DbSession, actor: Any, form: Form | None = None) -> MinePage:
    registrations = service.listable_registrations(db, actor)
    return MinePage(
        service.my_listings(db, actor), registrations, Labels(get_lang(request)), form=form or Form(),
        sensitive_kinds={r.id: kinds for r in registrations
                         if (kinds := service.registration_sensitive_kinds(db, r.id))},
    )


@router.get("/catalog/mine", response_class=HTMLResponse)
def mine_page(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return render(request, "catalog/mine.html", _mine(request, db, actor))


@router.post("/catalog/mine", response_class=HTMLResponse)
def create_listing(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    def created(data: s.ListingIn) -> Response:
        return see_other(f"/catalog/{service.create_listing(db, actor, data).id}/edit")

    return submit_form(request, db, s.ListingIn, _tags(form_fields(posted, lists=LIST_FIELDS)), LISTING_LABELS,
                       created, lambda form: ("catalog/mine.html", _mine(request, db, actor, form)))


@dataclass(frozen=True)
class EditorPage(read_models.EditorView):
    """The listing editor: its read model (``read_models.listing_editor``), choices and the form."""

    labels: Labels = field(default_factory=lambda: Labels("zh"))
    plan_kinds: dict[str, str] = field(default_factory=lambda: dict(pricing.PLAN_KINDS))
    delivery_modes: tuple[str, ...] = DELIVERY_MODES
    purposes: dict[str, str] = field(default_factory=lambda: dict(policy.PURPOSES))
    territories: dict[str, str] = field(default_factory=lambda: dict(policy.TERRITORIES))
    data_types: tuple[str, ...] = DATA_TYPES
    licences: tuple[str, ...] = tuple(LICENCES)
    form: Form = field(default_factory=Form)  # the posted form ("edit", "plan" or a button's action)
    kinds_text: str = ""


def _editor(request: Request, db: DbSession, actor: Any, listing_id: int, form: Form | None = None) -> EditorPage:
    view = read_models.listing_editor(db, actor, listing_id)
    lang = get_lang(request)
    return EditorPage(**vars(view), labels=Labels(lang), form=form or Form(),
                      kinds_text=service.KindList("personal-data kind", ",".join(view.sensitive_kinds)).render(lang))


def _editor_again(request: Request, db: DbSession, actor: Any, listing_id: int) -> Any:
    return lambda form: ("catalog/editor.html", _editor(request, db, actor, listing_id, form))


@router.get("/catalog/{listing_id:int}/edit", response_class=HTMLResponse)
def editor_page(listing_id: int, request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return render(request, "catalog/editor.html", _editor(request, db, actor, listing_id))


@router.post("/catalog/{listing_id:int}/edit", response_class=HTMLResponse)
def edit_listing(listing_id: int,
    request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    def updated(data: s.ListingUpdate) -> Response:
        service.update_listing(db, actor, listing_id, data)
        return see_other(f"/catalog/{listing_id}/edit")

    return submit_form(request, db, s.ListingUpdate, _tags(form_fields(posted, lists=LIST_FIELDS)), LISTING_LABELS,
                       updated, _editor_again(request, db, actor, listing_id), name="edit")


@router.post("/catalog/{listing_id:int}/plans", response_class=HTMLResponse)
def add_plan(listing_id: int, request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    form = form_fields(posted, lists=LIST_FIELDS)
    # The posted fields stay as they are (the page shows them again); the schema reads the nested policy.
    form["policy"] = {
        "purposes": form.get("purposes") or ["research"],
        "term_days": str(form.get("term_days") or "").strip() or None,
        "territory": form.get("territory", "CN"),
        "onward_transfer": form.get("onward_transfer", "") == "on",
        "resale": form.get("resale", "") == "on",
        "attribution": form.get("attribution", "") == "on",
    }
    form["confirm_personal_data"] = form.get("confirm_personal_data", "") == "on"

    def added(data: s.PlanIn) -> Response:
        service.add_plan(db, actor, listing_id, data, base_url=get_settings_dep(request).public_base)
        return see_other(f"/catalog/{listing_id}/edit")

    return submit_form(request, db, s.PlanIn, form, PLAN_LABELS, added, _editor_again(request, db, actor, listing_id),
                       name="plan")


@router.post("/catalog/{listing_id:int}/plans/{plan_id:int}/withdraw")
def withdraw_plan(listing_id: int, plan_id: int, db: DbSession, actor: SignedInActor) -> Response:
    service.withdraw_plan(db, actor, listing_id, plan_id)
    return see_other(f"/catalog/{listing_id}/edit")


@router.post("/catalog/{listing_id:int}/{action}", response_class=HTMLResponse)
def listing_action(
    listing_id: int, action: str, request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm,
) -> Response:
    form = form_fields(posted, lists=LIST_FIELDS)
    form["confirm_personal_data"] = form.get("confirm_personal_data") == "on"

    def act(data: s.ListingActionIn) -> Response:
        if action == "submit":
            service.submit_listing(db, actor, listing_id, confirm_personal_data=data.confirm_personal_data)
        elif action == "pause":
            service.pause_listing(db, actor, listing_id, data.reason)
        elif action == "resume":
            service.resume_listing(db, actor, listing_id)
        elif action == "delist":
            service.delist_listing(db, actor, listing_id, data.reason)
        elif action == "follow":
            follows.follow(db, actor, listing_id)
            return see_other(f"/catalog/{listing_id}")
        elif action == "unfollow":
            follows.unfollow(db, actor, listing_id)
            return see_other(f"/catalog/{listing_id}")
        else:
            raise InvalidInput(
                "{field} must be one of: {expected}.",
                field="action",
                expected="submit, pause, resume, delist, follow, unfollow",
            )
        return see_other(f"/catalog/{listing_id}/edit")

    return submit_form(request, db, s.ListingActionIn, form, ACTION_LABELS, act,
                       _editor_again(request, db, actor, listing_id), name=action)


# --- product page ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductPage(read_models.ProductView):
    """The product page: its read model (``read_models.product_view``) and the label look-ups."""

    labels: Labels | None = None


@router.get("/catalog/{listing_id:int}", response_class=HTMLResponse)
def product_page(
    listing_id: int, request: Request, db: DbSession, actor: CurrentActor, settings: AppSettings
) -> Response:
    view = read_models.product_view(db, actor, settings, listing_id,
                                    getattr(request.app.state, "product_panels", ()))
    page = extend(ProductPage, view, labels=Labels(get_lang(request)))
    _record_view(request, actor, view.listing, view.sample)
    return render(request, "catalog/product.html", page)


def _record_view(request: Request, actor: Actor, listing: Listing, sample: product.Sample) -> None:
    """The page's writes, in one short write transaction of their own: the audit row of a sample
    with personal information, and the view counts waiting (``catalog/view_counts.py``: views are
    written together about once a second, not one transaction per view). The page itself runs in
    a read transaction; a write inside it took SQLite's write lock in the middle of the read, and a
    second write transaction opened here then waited 30 s on its own request's lock. If the audit
    row cannot be written the page is not shown (503, retry): personal data is never shown
    unaudited."""
    counts = view_counts.for_app(request.app.state)
    due = counts.note(listing.id) if listing.status == "listed" else False
    if not product.shows_personal_data(listing, sample):
        if due:
            counts.flush(get_database(request))
        return
    waiting = counts.take()
    try:
        with get_database(request).unit_of_work() as db:
            product.record_sample_view(db, actor, listing, sample)
            view_counts.write(db, waiting)
    except BaseException:
        counts.give_back(waiting)
        raise


# --- listing review --------------------------------------------------------------------------------


@dataclass
class ReviewPage:
    queue: read_models.ReviewQueue
    labels: Labels
    form: Form = field(default_factory=Form)


def _review(request: Request, db: DbSession, actor: Any, form: Form | None = None) -> ReviewPage:
    return ReviewPage(read_models.review_queue(db, actor), Labels(get_lang(request)), form or Form())


@router.get("/operator/listings", response_class=HTMLResponse)
def review_page(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return render(request, "catalog/review.html", _review(request, db, actor))


@router.post("/operator/listings/{listing_id:int}/{decision}", response_class=HTMLResponse)
def review(listing_id: int, decision: str,
    request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    def decided(data: s.Decision) -> Response:
        service.review_listing(db, actor, listing_id, decision[:16], data.reason)
        return see_other("/operator/listings")

    return submit_form(request, db, s.Decision, form_fields(posted), {"reason": N_("Reason")}, decided,
                       lambda form: ("catalog/review.html", _review(request, db, actor, form)), name=str(listing_id))


# --- follows and notifications ------------------------------------------------------------------------


@dataclass
class FollowsPage:
    listings: list[Listing]
    notifications: list[s.NotificationOut]
    saved: list[Any]
    labels: Labels
    form: Form = field(default_factory=Form)


def _follows(request: Request, db: DbSession, actor: Any, form: Form | None = None) -> FollowsPage:
    lang = get_lang(request)
    return FollowsPage(
        follows.followed_listings(db, actor),
        [notification_out(n, lang) for n in follows.notifications(db, actor)],
        follows.saved_searches(db, actor),
        Labels(lang),
        form or Form(),
    )


@router.get("/catalog/follows", response_class=HTMLResponse)
def follows_page(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return render(request, "catalog/follows.html", _follows(request, db, actor))


@router.post("/catalog/notifications/read")
def mark_read(db: DbSession, actor: SignedInActor) -> Response:
    follows.mark_read(db, actor)
    return see_other("/catalog/follows")


@router.post("/catalog/saved-searches")
def save_search(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    form = form_fields(posted, lists=LIST_FIELDS)
    name = (
        str(form.get("name", "")).strip()
        or str(form.get("q", ""))[:100]
        or translate("Saved search", get_lang(request))
    )
    params = {k: form.get(k, "") for k in SEARCH_PARAMS}

    def saved(data: s.SavedSearchIn) -> Response:
        follows.save_search(db, actor, data.name, params)
        return see_other("/catalog/follows")

    return submit_form(request, db, s.SavedSearchIn, {"name": name}, {"name": N_("Name")}, saved,
                       lambda kept: ("catalog/follows.html", _follows(request, db, actor, kept)))


@router.post("/catalog/saved-searches/{search_id:int}/delete")
def delete_saved_search(search_id: int, db: DbSession, actor: SignedInActor) -> Response:
    follows.delete_saved_search(db, actor, search_id)
    return see_other("/catalog/follows")


# --- the addresses of the catalogue's linked data -------------------------------------------------------
# Regions, industries, organisations, licences and plans' policies (catalog/resources.py): a portal page
# for people, JSON-LD for ``Accept: application/ld+json`` (or ``?format=jsonld``), Turtle for
# ``text/turtle`` (or ``?format=ttl``). A policy answers in JSON-LD unless a browser asks for HTML, which
# goes to the product page.

_JSONLD = "application/ld+json"
_TURTLE = "text/turtle; charset=utf-8"


@dataclass
class ResourcePage:
    resource: resources.Resource
    address: str


def _wanted(request: Request) -> str:
    fmt = request.query_params.get("format", "")
    if fmt in ("jsonld", "ttl", "html"):
        return fmt
    accept = request.headers.get("accept", "")
    if "text/html" in accept or not accept:
        return "html"
    if "application/ld+json" in accept or "application/json" in accept:
        return "jsonld"
    if "text/turtle" in accept:
        return "ttl"
    return "html"


def _answer(request: Request, resource: resources.Resource, address: str) -> Response:
    doc = {"@context": dcat.CONTEXT, **resource.node}
    wanted = _wanted(request)
    if wanted == "jsonld":
        response: Response = JSONResponse(doc, media_type=_JSONLD)
    elif wanted == "ttl":
        response = Response(dcat.to_turtle(doc), media_type=_TURTLE)
    else:
        response = render(request, "catalog/resource.html", ResourcePage(resource, address))
    response.headers["Vary"] = "Accept"  # one address, several representations
    return response


@router.get("/regions/{code}", response_class=HTMLResponse)
def region_page(code: str, request: Request, db: DbSession, settings: AppSettings) -> Response:
    base = settings.public_base
    return _answer(request, resources.region(db, base, code, get_lang(request)), resources.region_uri(base, code))


@router.get("/industries/{code}", response_class=HTMLResponse)
def industry_page(code: str, request: Request, db: DbSession, settings: AppSettings) -> Response:
    base = settings.public_base
    resource = resources.industry(db, base, code, get_lang(request))
    return _answer(request, resource, resources.industry_uri(base, code))


@router.get("/organisations/{org_id:int}", response_class=HTMLResponse)
def organisation_page(org_id: int, request: Request, db: DbSession, settings: AppSettings) -> Response:
    base = settings.public_base
    resource = resources.organisation(db, base, org_id, get_lang(request))
    return _answer(request, resource, resources.organisation_uri(base, org_id))


@router.get("/licences/{key}", response_class=HTMLResponse)
def licence_page(key: str, request: Request, settings: AppSettings) -> Response:
    resource = resources.licence(settings.public_base, key, get_lang(request))
    return _answer(request, resource, f"{settings.public_base}/licences/{key}")


@router.get("/catalog/{listing_id:int}/plans/{plan_id:int}/policy")
def policy_document(
    listing_id: int, plan_id: int, request: Request, db: DbSession, actor: CurrentActor, settings: AppSettings
) -> Response:
    doc: dict[str, Any] = resources.plan_policy(db, actor, settings.public_base, listing_id, plan_id)
    accept = request.headers.get("accept", "")
    fmt = request.query_params.get("format", "")
    if fmt == "html" or (not fmt and "text/html" in accept):  # a person: the product page shows it in words
        return RedirectResponse(f"/catalog/{listing_id}#plan-{plan_id}", status_code=303)
    if fmt == "ttl" or (not fmt and "text/turtle" in accept):
        return Response(dcat.to_turtle(doc), media_type=_TURTLE, headers={"Vary": "Accept"})
    return JSONResponse(doc, media_type=_JSONLD, headers={"Vary": "Accept"})


router.include_router(demand_pages.router)  # the demand pool's pages live in their own module
