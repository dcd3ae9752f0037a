"""Portal pages of the accounts capability. Each form goes through ``core.http.submit_form``: the
whole form validated at once, one service call, and on a domain error the same page again with
every field's error beside its field."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qianshu.accounts import inbox_views, read_models, schemas, service
from qianshu.accounts.audit_views import AuditFilter, AuditPage, browse_audit
from qianshu.accounts.deps import SESSION_COOKIE, CurrentActor, SignedInActor, client_ip
from qianshu.accounts.job_views import LISTED_STATUSES, retry_job
from qianshu.accounts.models import ApiToken, Organisation
from qianshu.accounts.passwords import RETRY_AFTER_SECONDS, PasswordCheckBusy
from qianshu.accounts.settings import AccountsSettings
from qianshu.core.errors import NotAuthenticated, QianshuError
from qianshu.core.forms import Form, validate_form
from qianshu.core.http import (
    AppSettings,
    DbSession,
    PostedForm,
    form_fields,
    get_database,
    get_lang,
    public_url,
    render,
    safe_local_path,
    see_other,
    show_form_errors,
    submit_form,
)
from qianshu.core.i18n import N_
from qianshu.core.identifiers import guizhou_divisions
from qianshu.core.vocabulary import region_name

router = APIRouter(include_in_schema=False)
ORG_TYPE_LABELS = {
    "data_merchant": "Data merchant", "buyer": "Buyer", "service_provider": "Service provider",
    "bank": "Bank", "government": "Government department", "exchange_operator": "Exchange operator",
    "voucher_administrator": "Voucher administrator", "compute_provider": "Compute provider",
    "data_bureau": "Big-data bureau",
}


SIGN_IN_LABELS = {"email": N_("E-mail"), "password": N_("Password")}


@dataclass
class SignInPage:
    next: str = "/"
    form: Form = field(default_factory=Form)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, actor: CurrentActor, next: str = "/") -> Response:
    return render(request, "accounts/sign_in.html", SignInPage(next=safe_local_path(next)))


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(request: Request, settings: AppSettings, actor: CurrentActor, posted: PostedForm) -> Response:
    """The account is read in a read transaction, the password checked outside any transaction
    (on the bounded hashing pool, accounts/passwords.py) and the outcome recorded in a short write
    transaction, so that no connection or lock is held while a sign-in waits for its hash."""
    form = form_fields(posted)
    next_url, ip = safe_local_path(str(form.get("next", "/"))), client_ip(request)
    database = get_database(request)

    def again(kept: Form) -> tuple[str, Any]:
        return "accounts/sign_in.html", SignInPage(next_url, kept)

    try:
        data = validate_form(schemas.SignInForm, form)
        with database.unit_of_work(write=False) as db:
            stored = service.load_credentials(db, settings, data.email, ip)
        wait = settings.section(AccountsSettings).password_hash_queue_seconds
        try:
            checked = service.verify_credentials(stored, data.password, wait)
        except PasswordCheckBusy as exc:  # not a failed attempt: nothing is recorded
            page = show_form_errors(request, exc, form, SIGN_IN_LABELS, again)
            page.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return page
        with database.unit_of_work() as db:
            user = service.record_sign_in(db, checked, data.password, ip)
            raw = service.start_session(db, settings, user, ip, request.headers.get("user-agent", "")) if user else None
        if raw is None:
            raise NotAuthenticated("The e-mail address or password is wrong.", code="invalid_credentials")
    except QianshuError as exc:
        return show_form_errors(request, exc, form, SIGN_IN_LABELS, again)
    response = see_other(next_url)
    response.set_cookie(SESSION_COOKIE, raw, httponly=True, samesite="lax",
                        secure=settings.environment == "production",
                        max_age=settings.session_hours * 3600)
    return response


@router.post("/sign-out")
def sign_out(request: Request, db: DbSession, actor: CurrentActor) -> Response:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        service.end_session(db, raw)
    response = see_other("/")
    response.delete_cookie(SESSION_COOKIE)
    return response


APPLY_LABELS = {
    "name": N_("Organisation name"), "name_en": N_("Name in English"), "org_type": N_("Organisation type"),
    "uscc": N_("Unified Social Credit Code"), "division_code": N_("Division code"),
    "contact_name": N_("Contact person"), "contact_email": N_("Contact e-mail"), "contact_phone": N_("Contact phone"),
    "admin_name": N_("Administrator name"), "admin_email": N_("Administrator e-mail (sign-in)"),
    "password": N_("Password (at least 10 characters)"),
}


@dataclass
class ApplyPage:
    form: Form = field(default_factory=Form)
    org_types: dict[str, str] = field(default_factory=lambda: {k: v for k, v in ORG_TYPE_LABELS.items()
                                                               if k != "exchange_operator"})
    divisions: dict[str, str] = field(default_factory=guizhou_divisions)
    done: Organisation | None = None


@router.get("/apply", response_class=HTMLResponse)
def apply_page(request: Request, actor: CurrentActor) -> Response:
    return render(request, "accounts/apply.html", ApplyPage())


@router.post("/apply", response_class=HTMLResponse)
def apply(request: Request, db: DbSession, actor: CurrentActor, posted: PostedForm) -> Response:
    def done(data: schemas.OrganisationApplication) -> Response:
        org = service.apply_organisation(db, actor, data)
        return render(request, "accounts/apply.html", ApplyPage(done=org), status_code=201)

    return submit_form(request, db, schemas.OrganisationApplication, form_fields(posted), APPLY_LABELS, done,
                       lambda form: ("accounts/apply.html", ApplyPage(form=form)))


@dataclass(frozen=True)
class OrgPage(read_models.OrganisationView):
    """The organisation page: its read model (``read_models.my_organisation``), the form and look-ups."""

    invite_url: str = ""
    form: Form = field(default_factory=Form)
    jurisdiction_names: dict[str, str] = field(default_factory=dict)  # code → name in the page's language


INVITE_LABELS = {"display_name": N_("Name"), "email": N_("E-mail"), "org_role": N_("Role")}


JURISDICTION_LABELS = {"jurisdiction": N_("Jurisdiction")}


def _org_page(db: DbSession, actor: Any, invite_url: str = "", form: Form | None = None, lang: str = "zh") -> OrgPage:
    view = read_models.my_organisation(db, actor)
    names = {u.jurisdiction: region_name(u.jurisdiction, lang) for u in view.users if u.jurisdiction}
    return OrgPage(**vars(view), invite_url=invite_url, form=form or Form(), jurisdiction_names=names)


@router.get("/org", response_class=HTMLResponse)
def my_organisation(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return render(request, "accounts/organisation.html", _org_page(db, actor, lang=get_lang(request)))


@router.post("/org/users/{user_id}/jurisdiction", response_class=HTMLResponse)
def set_user_jurisdiction(user_id: int, request: Request, db: DbSession, actor: SignedInActor,
                          posted: PostedForm) -> Response:
    """Place a colleague in a division (a caseworker's county, township or village), or clear it."""
    def placed(data: schemas.JurisdictionIn) -> Response:
        service.set_jurisdiction(db, actor, user_id, data.jurisdiction)
        return see_other("/org")

    posted_fields = form_fields(posted)
    # The picker goes down to counties; a township or village code is typed beside it and wins.
    chosen = str(posted_fields.get("finer") or "").strip() or str(posted_fields.get("jurisdiction") or "").strip()
    fields = {"jurisdiction": chosen or None}
    return submit_form(request, db, schemas.JurisdictionIn, fields, JURISDICTION_LABELS, placed,
                       lambda form: ("accounts/organisation.html",
                                     _org_page(db, actor, form=form, lang=get_lang(request))),
                       name=f"jurisdiction-{user_id}")


@router.post("/org/invitations", response_class=HTMLResponse)
def invite(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    def invited(data: schemas.InvitationIn) -> Response:
        _invitation, raw = service.invite_user(db, actor, data)
        url = public_url(request, "accept_invitation_page", token=raw)
        return render(request, "accounts/organisation.html",
                      _org_page(db, actor, invite_url=url, lang=get_lang(request)))

    return submit_form(request, db, schemas.InvitationIn, form_fields(posted), INVITE_LABELS, invited,
                       lambda form: ("accounts/organisation.html",
                                     _org_page(db, actor, form=form, lang=get_lang(request))))


@router.post("/org/users/{user_id}/remove")
def remove_user(user_id: int, db: DbSession, actor: SignedInActor) -> Response:
    service.remove_user(db, actor, user_id)
    return see_other("/org")


@dataclass
class InvitationPage:
    token: str
    email: str
    org_name: str
    form: Form = field(default_factory=Form)


@router.get("/invite/{token}", response_class=HTMLResponse, name="accept_invitation_page")
def accept_invitation_page(token: str, request: Request, db: DbSession, actor: CurrentActor) -> Response:
    invitation = service.pending_invitation(db, token)
    org = db.get_one(Organisation, invitation.org_id)
    return render(request, "accounts/invitation.html", InvitationPage(token, invitation.email, org.name))


@router.post("/invite/{token}", response_class=HTMLResponse)
def accept_invitation(token: str, request: Request, db: DbSession, actor: CurrentActor, posted: PostedForm,
                      ) -> Response:
    def accepted(data: schemas.AcceptInvitation) -> Response:
        service.accept_invitation(db, actor, token, data.password)
        return see_other("/sign-in")

    def again(form: Form) -> tuple[str, Any]:
        invitation = service.pending_invitation(db, token)
        org = db.get_one(Organisation, invitation.org_id)
        return "accounts/invitation.html", InvitationPage(token, invitation.email, org.name, form)

    return submit_form(request, db, schemas.AcceptInvitation, form_fields(posted),
                       {"password": N_("Password (at least 10 characters)")}, accepted, again)


@dataclass
class TokensPage:
    tokens: list[ApiToken]
    new_token: str = ""
    form: Form = field(default_factory=Form)


TOKEN_LABELS = {"name": N_("Token name"), "scopes": N_("Scopes"), "days": N_("Valid for (days)")}


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return render(request, "accounts/tokens.html", TokensPage(service.list_tokens(db, actor)))


@router.post("/tokens", response_class=HTMLResponse)
def create_token(request: Request, db: DbSession, actor: SignedInActor, form: PostedForm) -> Response:
    payload = {"name": form.get("name", ""), "days": form.get("days", "90"),
               "scopes": [s for s in form.getlist("scopes") if isinstance(s, str)] or ["read"]}

    def created(data: schemas.TokenIn) -> Response:
        _token, raw = service.create_token(db, actor, data)
        return render(request, "accounts/tokens.html", TokensPage(service.list_tokens(db, actor), new_token=raw))

    return submit_form(request, db, schemas.TokenIn, payload, TOKEN_LABELS, created,
                       lambda kept: ("accounts/tokens.html", TokensPage(service.list_tokens(db, actor), form=kept)))


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: int, db: DbSession, actor: SignedInActor) -> Response:
    service.revoke_token(db, actor, token_id)
    return see_other("/tokens")


@dataclass(frozen=True)
class ReviewPage(read_models.OrganisationReview):
    """The review: its read model (``read_models.organisation_review``), labels and the posted form."""

    org_type_labels: dict[str, str] = field(default_factory=lambda: ORG_TYPE_LABELS)
    divisions: dict[str, str] = field(default_factory=guizhou_divisions)
    form: Form = field(default_factory=Form)


def _review_page(db: DbSession, actor: Any, status: str, form: Form | None = None) -> ReviewPage:
    view = read_models.organisation_review(db, actor, status)
    return ReviewPage(view.organisations, view.status, view.may_decide, form=form or Form())


@router.get("/operator/organisations", response_class=HTMLResponse)
def review_page(request: Request, db: DbSession, actor: SignedInActor, status: str = "pending") -> Response:
    return render(request, "accounts/review.html", _review_page(db, actor, status))


@router.post("/operator/organisations/{org_id}/{decision}", response_class=HTMLResponse)
def review(org_id: int, decision: str, request: Request, db: DbSession, actor: SignedInActor,
           posted: PostedForm) -> Response:
    def decided(data: schemas.ReviewDecision) -> Response:
        service.review_organisation(db, actor, org_id, decision, data.reason)
        return see_other("/operator/organisations")

    return submit_form(request, db, schemas.ReviewDecision, form_fields(posted), {"reason": N_("Reason")}, decided,
                       lambda form: ("accounts/review.html", _review_page(db, actor, "pending", form)),
                       name=str(org_id))


@dataclass
class AuditTrailPage:
    result: AuditPage
    action: str
    org_id: str
    since: str
    until: str


def _parse_day(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text[:10]).astimezone() if text else None
    except ValueError:
        return None


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, db: DbSession, actor: SignedInActor, action: str = "", org_id: str = "",
               since: str = "", until: str = "", page: int = 1) -> Response:
    org = int(org_id) if org_id.isdigit() and len(org_id) < 12 else None
    result = browse_audit(db, actor, AuditFilter(action=action[:80], org_id=org, since=_parse_day(since),
                                                 until=_parse_day(until), page=max(1, min(page, 10**6))))
    return render(request, "accounts/audit.html", AuditTrailPage(result, action[:80], org_id[:12], since[:10],
                                                                 until[:10]))




@dataclass(frozen=True)
class JobsPage(read_models.JobQueue):
    """The jobs: its read model (``read_models.job_queue``), the tabs and a refused retry's error."""

    statuses: tuple[str, ...] = LISTED_STATUSES
    error: str = ""


def _jobs_page(db: DbSession, actor: Any, lang: str, status: str = "", error: str = "") -> JobsPage:
    view = read_models.job_queue(db, actor, lang, status)
    return JobsPage(view.jobs, view.status, view.may_retry, error=error)


@router.get("/operator/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, db: DbSession, actor: SignedInActor, status: str = "") -> Response:
    return render(request, "accounts/jobs.html", _jobs_page(db, actor, get_lang(request), status))


@router.post("/operator/jobs/{job_id}/retry", response_class=HTMLResponse)
def retry_job_page(job_id: int, request: Request, db: DbSession, actor: SignedInActor) -> Response:
    lang = get_lang(request)
    try:
        retry_job(db, actor, job_id, lang)
    except QianshuError as exc:
        db.rollback()
        if exc.status in (401, 403, 404):
            raise
        return render(request, "accounts/jobs.html", _jobs_page(db, actor, lang, error=exc.render(lang)),
                      status_code=exc.status)
    return see_other("/operator/jobs")


# --- the inbox ---------------------------------------------------------------------------------


@dataclass
class InboxPage:
    entries: list[inbox_views.InboxEntry]
    unread_only: bool


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, db: DbSession, actor: SignedInActor, unread: bool = False) -> Response:
    entries = inbox_views.list_inbox(db, actor, get_lang(request), unread_only=unread)
    return render(request, "accounts/inbox.html", InboxPage(entries, unread))


@router.post("/inbox/read")
def inbox_read(db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    """Mark one notification (``id``) or all unread ones read."""
    form = form_fields(posted)
    one = str(form.get("id", "")).strip()
    inbox_views.mark_read(db, actor, [int(one)] if one.isdigit() and len(one) < 19 else None)
    return see_other("/inbox")
