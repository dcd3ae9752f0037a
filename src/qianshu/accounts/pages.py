"""Portal pages of the accounts capability. Each handler parses the form, calls one service
function and renders; a domain error re-renders the form with the message."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qianshu.accounts import inbox_views, permissions, schemas, service
from qianshu.accounts.audit_views import AuditFilter, AuditPage, browse_audit
from qianshu.accounts.deps import SESSION_COOKIE, CurrentActor, SignedInActor, client_ip
from qianshu.accounts.job_views import LISTED_STATUSES, JobView, list_jobs, retry_job
from qianshu.accounts.models import ApiToken, Organisation, User
from qianshu.accounts.passwords import RETRY_AFTER_SECONDS, PasswordCheckBusy
from qianshu.core import policy
from qianshu.core.errors import QianshuError
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
)
from qianshu.core.identifiers import guizhou_divisions
from qianshu.core.validation import parse_form

router = APIRouter(include_in_schema=False)
ORG_TYPE_LABELS = {
    "data_merchant": "Data merchant", "buyer": "Buyer", "service_provider": "Service provider",
    "bank": "Bank", "government": "Government department", "exchange_operator": "Exchange operator",
    "voucher_administrator": "Voucher administrator", "compute_provider": "Compute provider",
}


@dataclass
class SignInPage:
    email: str = ""
    error: str = ""
    next: str = "/"


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, actor: CurrentActor, next: str = "/") -> Response:
    return render(request, "accounts/sign_in.html", SignInPage(next=safe_local_path(next)))


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(request: Request, settings: AppSettings, actor: CurrentActor, posted: PostedForm) -> Response:
    """The account is read in a read transaction, the password checked outside any transaction
    (on the bounded hashing pool, accounts/passwords.py) and the outcome recorded in a short write
    transaction, so that no connection or lock is held while a sign-in waits for its hash."""
    form = form_fields(posted)
    email, password = form.get("email", "")[:254], form.get("password", "")
    next_url, ip = safe_local_path(form.get("next", "/")), client_ip(request)
    database = get_database(request)
    try:
        with database.unit_of_work(write=False) as db:
            stored = service.load_credentials(db, settings, email, ip)
    except QianshuError as exc:
        return render(request, "accounts/sign_in.html", SignInPage(email, exc.render(get_lang(request)), next_url),
                      status_code=exc.status)
    try:
        checked = service.verify_credentials(stored, password, settings.password_hash_queue_seconds)
    except PasswordCheckBusy as exc:  # not a failed attempt: nothing is recorded
        page = render(request, "accounts/sign_in.html", SignInPage(email, exc.render(get_lang(request)), next_url),
                      status_code=exc.status)
        page.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return page
    with database.unit_of_work() as db:
        user = service.record_sign_in(db, checked, password, ip)
        raw = service.start_session(db, settings, user, ip, request.headers.get("user-agent", "")) if user else None
    if raw is None:
        message = "The e-mail address or password is wrong."
        return render(request, "accounts/sign_in.html", SignInPage(email, message, next_url), status_code=401)
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


@dataclass
class ApplyPage:
    form: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    org_types: dict[str, str] = field(default_factory=lambda: {k: v for k, v in ORG_TYPE_LABELS.items()
                                                               if k != "exchange_operator"})
    divisions: dict[str, str] = field(default_factory=guizhou_divisions)
    done: Organisation | None = None


@router.get("/apply", response_class=HTMLResponse)
def apply_page(request: Request, actor: CurrentActor) -> Response:
    return render(request, "accounts/apply.html", ApplyPage())


@router.post("/apply", response_class=HTMLResponse)
def apply(request: Request, db: DbSession, actor: CurrentActor, posted: PostedForm) -> Response:
    form = form_fields(posted)
    try:
        data = parse_form(schemas.OrganisationApplication, form)
        assert isinstance(data, schemas.OrganisationApplication)
        org = service.apply_organisation(db, actor, data)
    except QianshuError as exc:
        db.rollback()
        form.pop("password", None)
        return render(request, "accounts/apply.html", ApplyPage(form=form, error=exc.render(get_lang(request))),
                      status_code=exc.status)
    return render(request, "accounts/apply.html", ApplyPage(done=org), status_code=201)


@dataclass
class OrgPage:
    org: Organisation
    users: list[User]
    org_type_label: str
    invite_url: str = ""
    error: str = ""
    administers_users: bool = False


def _org_page(request: Request, db: DbSession, actor: Any, invite_url: str = "", error: str = "",
              status: int = 200) -> Response:
    org = service.get_organisation(db, actor, actor.org_id)
    users = service.list_users(db, actor, org.id)
    return render(request, "accounts/organisation.html",
                  OrgPage(org, users, ORG_TYPE_LABELS[org.org_type], invite_url, error,
                          policy.allows(actor, "user.administer", permissions.own_organisation(actor))),
                  status_code=status)


@router.get("/org", response_class=HTMLResponse)
def my_organisation(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return _org_page(request, db, actor)


@router.post("/org/invitations", response_class=HTMLResponse)
def invite(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    try:
        data = parse_form(schemas.InvitationIn, form_fields(posted))
        assert isinstance(data, schemas.InvitationIn)
        _invitation, raw = service.invite_user(db, actor, data)
    except QianshuError as exc:
        db.rollback()
        return _org_page(request, db, actor, error=exc.render(get_lang(request)), status=exc.status)
    return _org_page(request, db, actor, invite_url=public_url(request, "accept_invitation_page", token=raw))


@router.post("/org/users/{user_id}/remove")
def remove_user(user_id: int, db: DbSession, actor: SignedInActor) -> Response:
    service.remove_user(db, actor, user_id)
    return see_other("/org")


@dataclass
class InvitationPage:
    token: str
    email: str
    org_name: str
    error: str = ""


@router.get("/invite/{token}", response_class=HTMLResponse, name="accept_invitation_page")
def accept_invitation_page(token: str, request: Request, db: DbSession, actor: CurrentActor) -> Response:
    invitation = service.pending_invitation(db, token)
    org = db.get_one(Organisation, invitation.org_id)
    return render(request, "accounts/invitation.html", InvitationPage(token, invitation.email, org.name))


@router.post("/invite/{token}", response_class=HTMLResponse)
def accept_invitation(token: str, request: Request, db: DbSession, actor: CurrentActor, posted: PostedForm,
                      ) -> Response:
    form = form_fields(posted)
    try:
        data = parse_form(schemas.AcceptInvitation, {"password": form.get("password", "")})
        assert isinstance(data, schemas.AcceptInvitation)
        service.accept_invitation(db, actor, token, data.password)
    except QianshuError as exc:
        db.rollback()
        invitation = service.pending_invitation(db, token)
        org = db.get_one(Organisation, invitation.org_id)
        return render(request, "accounts/invitation.html",
                      InvitationPage(token, invitation.email, org.name, exc.render(get_lang(request))),
                      status_code=exc.status)
    return see_other("/sign-in")


@dataclass
class TokensPage:
    tokens: list[ApiToken]
    new_token: str = ""
    error: str = ""


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return render(request, "accounts/tokens.html", TokensPage(service.list_tokens(db, actor)))


@router.post("/tokens", response_class=HTMLResponse)
def create_token(request: Request, db: DbSession, actor: SignedInActor, form: PostedForm) -> Response:
    payload = {"name": form.get("name", ""), "days": form.get("days", "90"),
               "scopes": [s for s in form.getlist("scopes") if isinstance(s, str)] or ["read"]}
    try:
        data = parse_form(schemas.TokenIn, payload)
        assert isinstance(data, schemas.TokenIn)
        _token, raw = service.create_token(db, actor, data)
    except QianshuError as exc:
        db.rollback()
        return render(request, "accounts/tokens.html",
                      TokensPage(service.list_tokens(db, actor), error=exc.render(get_lang(request))),
                      status_code=exc.status)
    return render(request, "accounts/tokens.html", TokensPage(service.list_tokens(db, actor), new_token=raw))


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: int, db: DbSession, actor: SignedInActor) -> Response:
    service.revoke_token(db, actor, token_id)
    return see_other("/tokens")


@dataclass
class ReviewPage:
    organisations: list[Organisation]
    status: str
    org_type_labels: dict[str, str]
    divisions: dict[str, str]
    error: str = ""


@router.get("/operator/organisations", response_class=HTMLResponse)
def review_page(request: Request, db: DbSession, actor: SignedInActor, status: str = "pending") -> Response:
    status = status if status in ("pending", "approved", "rejected", "suspended", "") else "pending"
    orgs = service.list_organisations(db, actor, status or None)
    return render(request, "accounts/review.html",
                  ReviewPage(orgs, status, ORG_TYPE_LABELS, guizhou_divisions()))


@router.post("/operator/organisations/{org_id}/{decision}", response_class=HTMLResponse)
def review(org_id: int, decision: str, request: Request, db: DbSession, actor: SignedInActor,
           posted: PostedForm) -> Response:
    form = form_fields(posted)
    try:
        service.review_organisation(db, actor, org_id, decision, form.get("reason", "")[:2000])
    except QianshuError as exc:
        db.rollback()
        orgs = service.list_organisations(db, actor, "pending")
        return render(request, "accounts/review.html",
                      ReviewPage(orgs, "pending", ORG_TYPE_LABELS, guizhou_divisions(),
                                 exc.render(get_lang(request))), status_code=exc.status)
    return see_other("/operator/organisations")


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




@dataclass
class JobsPage:
    jobs: list[JobView]
    status: str
    statuses: tuple[str, ...] = LISTED_STATUSES
    error: str = ""


@router.get("/operator/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, db: DbSession, actor: SignedInActor, status: str = "") -> Response:
    status = status if status in LISTED_STATUSES else ""
    return render(request, "accounts/jobs.html", JobsPage(list_jobs(db, actor, get_lang(request), status), status))


@router.post("/operator/jobs/{job_id}/retry", response_class=HTMLResponse)
def retry_job_page(job_id: int, request: Request, db: DbSession, actor: SignedInActor) -> Response:
    lang = get_lang(request)
    try:
        retry_job(db, actor, job_id, lang)
    except QianshuError as exc:
        db.rollback()
        if exc.status in (401, 403, 404):
            raise
        return render(request, "accounts/jobs.html", JobsPage(list_jobs(db, actor, lang), "", error=exc.render(lang)),
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
