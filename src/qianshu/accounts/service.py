"""Rules of the accounts capability: organisations, users, sign-in, sessions, API tokens.

Every function takes a database session and the acting user, checks permission first and
writes an audit row for every change. None commits: the caller's unit of work does.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Select, case, delete, func, or_, select, update
from sqlalchemy.orm import Session, contains_eager

from qianshu.accounts import permissions
from qianshu.accounts.models import ApiToken, Invitation, LoginAttempt, Organisation, User, WebSession
from qianshu.accounts.passwords import hash_password, needs_rehash, verify_password
from qianshu.core import audit, policy
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied, TooManyRequests
from qianshu.core.i18n import Label
from qianshu.core.identifiers import validate_jurisdiction
from qianshu.core.settings import Settings
from qianshu.core.timeutil import as_utc, utcnow

if TYPE_CHECKING:
    # Types only: the schemas' Pydantic models cost a CLI command ~15 ms to build, and the
    # callers (the API, the pages) import them themselves.
    from qianshu.accounts.schemas import InvitationIn, OrganisationApplication, TokenIn

TOKEN_PREFIX = "qs_"  # noqa: S105 - a public prefix, not a secret
INVITATION_DAYS = 7


def token_hash(raw: str) -> str:
    """Tokens are high-entropy random strings, so a plain SHA-256 is a sound at-rest hash."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def actor_for(user: User, *, via: str, ip: str | None, scopes: frozenset[str] | None = None) -> Actor:
    org = user.organisation
    return Actor(user_id=user.id, org_id=org.id, org_role=user.org_role, staff_role=user.staff_role,
                 org_status=org.status, org_type=org.org_type, ip=ip, via=via,
                 scopes=scopes if scopes is not None else frozenset({"read", "write"}),
                 display_name=user.display_name, jurisdiction=user.jurisdiction)


# --- organisations -----------------------------------------------------------------------

def apply_organisation(db: Session, actor: Actor, data: OrganisationApplication) -> Organisation:
    """Anyone may apply; the organisation waits for an operator, its admin can sign in and look."""
    if data.org_type == "exchange_operator":
        raise InvalidInput("{field}: {reason}", field="org_type", reason="cannot be applied for")
    if db.scalar(select(Organisation.id).where(Organisation.uscc == data.uscc)) is not None:
        raise Conflict("An organisation with this Unified Social Credit Code already exists.",
                       code="organisation_exists", field="uscc")
    if db.scalar(select(User.id).where(User.email == data.admin_email)) is not None:
        raise Conflict("This e-mail address is already in use.", code="email_in_use", field="admin_email")
    org = Organisation(name=data.name, name_en=data.name_en, org_type=data.org_type, uscc=data.uscc,
                       division_code=data.division_code, contact_name=data.contact_name,
                       contact_email=data.contact_email, contact_phone=data.contact_phone, status="pending")
    org.users.append(User(email=data.admin_email, display_name=data.admin_name,
                          password_hash=hash_password(data.password), org_role="admin"))
    db.add(org)
    db.flush()
    audit.record(db, actor, "organisation.applied", target_type="organisation", target_id=org.id,
                 target_org_id=org.id, name=org.name, uscc=org.uscc)
    return org


def get_organisation(db: Session, actor: Actor, org_id: int) -> Organisation:
    policy.require(actor, "account.self")
    org = db.get(Organisation, org_id)
    if org is None or not policy.allows(actor, "organisation.view", policy.Resource(org_id=org_id)):
        raise NotFound("Organisation not found.", code="organisation_not_found")
    return org


def list_organisations(db: Session, actor: Actor, status: str | None = None, limit: int = 200) -> list[Organisation]:
    policy.require(actor, "organisation.list")
    query = select(Organisation).order_by(Organisation.created_at.desc(), Organisation.id.desc()).limit(limit)
    if status:
        query = query.where(Organisation.status == status)
    return list(db.scalars(query))


_TRANSITIONS = {
    "approve": ({"pending", "suspended"}, "approved", "organisation.approved"),
    "reject": ({"pending"}, "rejected", "organisation.rejected"),
    "suspend": ({"approved"}, "suspended", "organisation.suspended"),
}


def decisions_for(org: Organisation) -> tuple[str, ...]:
    """The decisions the organisation's status allows (the review page offers only these)."""
    if org.org_type == "exchange_operator":
        return ()
    return tuple(decision for decision, (allowed_from, _, _) in _TRANSITIONS.items() if org.status in allowed_from)


def review_organisation(db: Session, actor: Actor, org_id: int, decision: str, reason: str = "") -> Organisation:
    """Approve, reject or suspend. A conditional UPDATE makes concurrent decisions safe:
    of two operators deciding at once, exactly one wins and the other gets a 409."""
    policy.require(actor, "organisation.review")
    if decision not in _TRANSITIONS:
        raise InvalidInput("{field}: {reason}", field="decision", reason="is not a known decision")
    allowed_from, new_status, action = _TRANSITIONS[decision]
    if decision in ("reject", "suspend") and not reason.strip():
        raise InvalidInput("{field} is required.", field="reason")
    org = db.get(Organisation, org_id)
    if org is None:
        raise NotFound("Organisation not found.", code="organisation_not_found")
    if org.org_type == "exchange_operator":
        raise PermissionDenied("The exchange operator cannot be reviewed.")
    result = db.execute(
        update(Organisation)
        .where(Organisation.id == org_id, Organisation.status.in_(allowed_from))
        .values(status=new_status, review_reason=reason, reviewed_by=actor.user_id, reviewed_at=utcnow(),
                version=Organisation.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        db.refresh(org)
        raise Conflict("This organisation is already {status}; the decision was not applied.",
                       code="organisation_state_changed", status=Label("organisation status", org.status))
    db.refresh(org)
    audit.record(db, actor, action, target_type="organisation", target_id=org.id, target_org_id=org.id,
                 reason=reason)
    return org


# --- sign-in and sessions ----------------------------------------------------------------

def _email_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def _check_throttle(db: Session, settings: Settings, email: str, ip: str) -> None:
    since = utcnow() - timedelta(seconds=settings.login_window_seconds)
    by_email = db.scalar(select(func.count()).select_from(LoginAttempt)
                         .where(LoginAttempt.email_key == _email_key(email), LoginAttempt.at >= since)) or 0
    by_ip = db.scalar(select(func.count()).select_from(LoginAttempt)
                      .where(LoginAttempt.ip == ip, LoginAttempt.at >= since)) or 0
    if by_email >= settings.login_max_failures or by_ip >= settings.login_max_failures * 4:
        raise TooManyRequests("Too many failed sign-ins. Please wait {minutes} minutes and try again.",
                              code="sign_in_throttled", minutes=settings.login_window_seconds // 60)


@dataclass(frozen=True)
class StoredCredentials:
    """What a sign-in needs from the database before the password is checked."""

    email: str
    user_id: int | None  # None: no such account, or one that may not sign in
    password_hash: str | None


@dataclass(frozen=True)
class CheckedCredentials:
    """The outcome of a password check. The check runs outside any transaction (argon2 takes
    about 190 ms of CPU, and sign-ins may queue for the hashing threads: on SQLite, checking
    inside the write transaction made every sign-in wait for every other one's hash)."""

    email: str
    user_id: int | None  # None: wrong e-mail or password, or an account that may not sign in
    new_hash: str | None = None  # the password hashed with the current parameters, when they changed


def load_credentials(db: Session, settings: Settings, email: str, ip: str) -> StoredCredentials:
    """Throttle, then read the account's password hash (a read transaction; writes nothing)."""
    email = email.strip().lower()[:254]
    _check_throttle(db, settings, email, ip)
    user = db.scalar(select(User).where(User.email == email))
    if user is None:
        return StoredCredentials(email, None, None)
    may_sign_in = user.is_active and user.organisation.status != "rejected"
    return StoredCredentials(email, user.id if may_sign_in else None, user.password_hash)


def verify_credentials(stored: StoredCredentials, password: str,
                       queue_seconds: float | None = None) -> CheckedCredentials:
    """Check the password (no database: call it between transactions). A hash whose parameters
    are no longer the settings' is replaced by a new one, stored by ``record_sign_in``. With
    ``queue_seconds``, raises ``PasswordCheckBusy`` when the hashing threads stay busy that long."""
    password = password[:1024]
    ok = verify_password(stored.password_hash, password, queue_seconds)
    if not ok or stored.user_id is None:
        return CheckedCredentials(stored.email, None)
    new_hash = hash_password(password) if stored.password_hash and needs_rehash(stored.password_hash) else None
    return CheckedCredentials(stored.email, stored.user_id, new_hash)


def check_credentials(db: Session, settings: Settings, email: str, password: str, ip: str) -> CheckedCredentials:
    """Throttle, then verify the password; writes nothing (see ``record_sign_in``)."""
    return verify_credentials(load_credentials(db, settings, email, ip), password)


def record_sign_in(db: Session, checked: CheckedCredentials, password: str, ip: str) -> User | None:
    """Record the outcome of ``check_credentials`` in the write transaction: a failed attempt (for
    throttling), or a success (attempts cleared, the hash upgraded if its parameters are old)."""
    user = db.get(User, checked.user_id) if checked.user_id is not None else None
    if user is None or not user.is_active:  # also: removed between the check and now
        db.add(LoginAttempt(email_key=_email_key(checked.email), ip=ip))
        return None
    db.execute(delete(LoginAttempt).where(LoginAttempt.email_key == _email_key(checked.email)))
    if checked.new_hash is not None:
        user.password_hash = checked.new_hash
    elif user.password_hash and needs_rehash(user.password_hash):  # a caller that did not verify first
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


def authenticate(db: Session, settings: Settings, email: str, password: str, ip: str) -> User | None:
    """The user for a correct e-mail and password, else None after recording the failure (both
    steps in one transaction; the portal splits them, see ``check_credentials``).

    Returns rather than raises on failure so that the caller's transaction keeps the failed
    attempt; the same answer for unknown e-mail and wrong password reveals nothing.
    """
    return record_sign_in(db, check_credentials(db, settings, email, password, ip), password, ip)


def start_session(db: Session, settings: Settings, user: User, ip: str, user_agent: str) -> str:
    raw = secrets.token_urlsafe(32)
    db.add(WebSession(token_hash=token_hash(raw), user_id=user.id, ip=ip, user_agent=user_agent[:300],
                      expires_at=utcnow() + timedelta(hours=settings.session_hours)))
    audit.record(db, actor_for(user, via="portal", ip=ip), "user.signed_in", target_type="user",
                 target_id=user.id, target_org_id=user.org_id)
    return raw


def session_user(db: Session, raw: str) -> tuple[User, WebSession] | None:
    if not raw or len(raw) > 200:
        return None
    # Session, user and organisation in one query: every portal page runs this.
    row = db.execute(_with_user(select(WebSession, User).join(User, User.id == WebSession.user_id))
                     .where(WebSession.token_hash == token_hash(raw))).first()
    if row is None:
        return None
    found, user = row
    if as_utc(found.expires_at) <= utcnow() or not user.is_active:
        return None
    return user, found


_S = TypeVar("_S", bound=Select[Any, Any])


def _with_user(query: _S) -> _S:
    """``query`` (which selects a ``User``) with the user's organisation loaded in the same query,
    as ``actor_for`` reads it."""
    return query.join(Organisation, Organisation.id == User.org_id).options(contains_eager(User.organisation))


def end_session(db: Session, raw: str) -> None:
    db.execute(delete(WebSession).where(WebSession.token_hash == token_hash(raw)))


# --- users ---------------------------------------------------------------------------------

def current_user(db: Session, actor: Actor) -> User:
    """The signed-in user's own account."""
    policy.require(actor, "account.self")
    user = db.get(User, actor.user_id)
    if user is None:
        raise NotFound("User not found.", code="user_not_found")
    return user


def list_users(db: Session, actor: Actor, org_id: int) -> list[User]:
    policy.require(actor, "account.self")
    if not policy.allows(actor, "organisation.view", policy.Resource(org_id=org_id)):
        raise NotFound("Organisation not found.", code="organisation_not_found")
    return list(db.scalars(select(User).where(User.org_id == org_id).order_by(User.id)))


def invite_user(db: Session, actor: Actor, data: InvitationIn) -> tuple[Invitation, str]:
    """The admin gets a one-time link to hand to the colleague (no e-mail on an intranet)."""
    policy.require(actor, "user.administer", permissions.own_organisation(actor))
    permissions.require_scope(actor, "write")
    if data.org_role not in policy.org_roles_for(actor.org_type):
        raise InvalidInput("An organisation of this type has no such role.", code="role_not_in_org_type",
                           field="org_role")
    if db.scalar(select(User.id).where(User.email == data.email)) is not None:
        raise Conflict("This e-mail address is already in use.", code="email_in_use", field="email")
    raw = secrets.token_urlsafe(32)
    invitation = Invitation(org_id=actor.org_id, email=data.email, display_name=data.display_name,
                            org_role=data.org_role, token_hash=token_hash(raw), invited_by=actor.user_id,
                            expires_at=utcnow() + timedelta(days=INVITATION_DAYS))
    db.add(invitation)
    db.flush()
    audit.record(db, actor, "user.invited", target_type="invitation", target_id=invitation.id,
                 target_org_id=actor.org_id, email=data.email, role=data.org_role)
    return invitation, raw


def pending_invitation(db: Session, raw: str) -> Invitation:
    invitation = db.scalar(select(Invitation).where(Invitation.token_hash == token_hash(raw[:200])))
    if invitation is None or invitation.accepted_at is not None or as_utc(invitation.expires_at) <= utcnow():
        raise NotFound("This invitation is invalid or has expired.", code="invitation_invalid")
    return invitation


def accept_invitation(db: Session, actor: Actor, raw: str, password: str) -> User:
    invitation = pending_invitation(db, raw)
    if db.scalar(select(User.id).where(User.email == invitation.email)) is not None:
        raise Conflict("This e-mail address is already in use.", code="email_in_use", field="email")
    user = User(org_id=invitation.org_id, email=invitation.email, display_name=invitation.display_name,
                org_role=invitation.org_role, password_hash=hash_password(password))
    db.add(user)
    invitation.accepted_at = utcnow()
    db.flush()
    audit.record(db, actor, "user.joined", target_type="user", target_id=user.id,
                 target_org_id=invitation.org_id, invitation=invitation.id)
    return user


def remove_user(db: Session, actor: Actor, user_id: int) -> None:
    policy.require(actor, "user.administer", permissions.own_organisation(actor))
    permissions.require_scope(actor, "write")
    user = db.get(User, user_id)
    if user is None or user.org_id != actor.org_id:
        raise NotFound("User not found.", code="user_not_found")
    if user.id == actor.user_id:
        raise Conflict("You cannot remove yourself.", code="cannot_remove_self")
    if not user.is_active:
        raise Conflict("This user has already been removed.", code="user_already_removed")
    user.is_active = False
    db.execute(delete(WebSession).where(WebSession.user_id == user.id))
    db.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
               .values(revoked_at=utcnow()))
    audit.record(db, actor, "user.removed", target_type="user", target_id=user.id,
                 target_org_id=user.org_id, email=user.email)


def set_jurisdiction(db: Session, actor: Actor, user_id: int, code: str | None) -> User:
    """Give a user a jurisdiction (a division code they act within) or take it away (None or "").

    Operators may set any user's; an administrator of an organisation, its own users'.
    """
    user = db.get(User, user_id)
    if user is None:
        raise NotFound("User not found.", code="user_not_found")
    policy.require(actor, "user.jurisdiction", policy.Resource(org_id=user.org_id),
                   hidden=NotFound("User not found.", code="user_not_found"))
    permissions.require_scope(actor, "write")
    value = validate_jurisdiction(code) if code and code.strip() else None
    before, user.jurisdiction = user.jurisdiction, value
    db.flush()
    audit.record(db, actor, "user.jurisdiction_set", target_type="user", target_id=user.id,
                 target_org_id=user.org_id, jurisdiction=value, before=before)
    return user


# --- API tokens ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ResolvedToken:
    user: User
    token: ApiToken


def create_token(db: Session, actor: Actor, data: TokenIn) -> tuple[ApiToken, str]:
    policy.require(actor, "account.self")
    permissions.require_scope(actor, "write")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=actor.user_id, name=data.name, prefix=raw[:10], token_hash=token_hash(raw),
                     scopes=sorted(set(data.scopes)), expires_at=utcnow() + timedelta(days=data.days))
    db.add(token)
    db.flush()
    audit.record(db, actor, "token.created", target_type="api_token", target_id=token.id,
                 target_org_id=actor.org_id, name=data.name, scopes=token.scopes)
    return token, raw


def list_tokens(db: Session, actor: Actor) -> list[ApiToken]:
    policy.require(actor, "account.self")
    return list(db.scalars(select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.id.desc())))


def revoke_token(db: Session, actor: Actor, token_id: int) -> ApiToken:
    policy.require(actor, "account.self")
    token = db.get(ApiToken, token_id)
    if token is None or token.user_id != actor.user_id:
        raise NotFound("API token not found.", code="token_not_found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(db, actor, "token.revoked", target_type="api_token", target_id=token.id,
                     target_org_id=actor.org_id)
    return token


def resolve_token(db: Session, raw: str) -> ResolvedToken:
    """The user behind a bearer token; expired and revoked tokens say so."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        raise NotAuthenticated("The API token is not valid.", code="token_invalid")
    # Token, user and organisation in one query: every API request runs this.
    found = db.execute(_with_user(select(ApiToken, User).join(User, User.id == ApiToken.user_id))
                       .where(ApiToken.token_hash == token_hash(raw))).first()
    token, user = found if found is not None else (None, None)
    # compare_digest for form's sake: the lookup is by hash, so timing reveals nothing useful
    if token is None or not hmac.compare_digest(token.token_hash, token_hash(raw)):
        raise NotAuthenticated("The API token is not valid.", code="token_invalid")
    if token.revoked_at is not None:
        raise NotAuthenticated("The API token has been revoked.", code="token_revoked")
    if as_utc(token.expires_at) <= utcnow():
        raise NotAuthenticated("The API token has expired.", code="token_expired")
    if user is None or not user.is_active:
        raise NotAuthenticated("The API token is not valid.", code="token_invalid")
    return ResolvedToken(user=user, token=token)


# --- lookups for other capabilities' services (they read accounts' tables only through these) ---

def organisation_by_id(db: Session, org_id: int) -> Organisation:
    """An organisation's public facts (name, USCC, division) for another service's document."""
    org = db.get(Organisation, org_id)
    if org is None:
        raise NotFound("Organisation not found.", code="organisation_not_found")
    return org


def organisation_by_uscc(db: Session, uscc: str) -> Organisation | None:
    return db.scalar(select(Organisation).where(Organisation.uscc == uscc))


def organisations_by_id(db: Session, org_ids: Iterable[int]) -> dict[int, Organisation]:
    wanted = set(org_ids)
    if not wanted:
        return {}
    return {o.id: o for o in db.scalars(select(Organisation).where(Organisation.id.in_(wanted)))}


def organisations_of_type(db: Session, org_type: str) -> list[Organisation]:
    """The approved organisations of one type (the big-data bureaus a sharing notice goes to)."""
    return list(db.scalars(select(Organisation).where(Organisation.org_type == org_type,
                                                      Organisation.status == "approved").order_by(Organisation.id)))


def find_organisations(db: Session, text: str, limit: int = 20) -> list[Organisation]:
    """Approved organisations whose name (Chinese or English) or USCC contains ``text``, taken
    literally (``%`` and ``_`` match themselves), case-insensitively; those whose USCC or name
    starts with it first. For pickers of other capabilities, which show only public facts."""
    text = text.strip()
    if not text:
        return []
    matching = or_(Organisation.name.icontains(text, autoescape=True),
                   Organisation.name_en.icontains(text, autoescape=True),
                   Organisation.uscc.icontains(text, autoescape=True))
    starts = or_(Organisation.uscc.istartswith(text, autoescape=True),
                 Organisation.name.istartswith(text, autoescape=True))
    return list(db.scalars(select(Organisation).where(Organisation.status == "approved", matching)
                           .order_by(case((starts, 0), else_=1), Organisation.name, Organisation.id).limit(limit)))


def active_user_by_email(db: Session, email: str) -> User | None:
    """For CLI commands acting as a named user."""
    user = db.scalar(select(User).where(User.email == email.strip().lower()))
    return user if user is not None and user.is_active else None


def active_user_by_id(db: Session, user_id: int) -> User | None:
    """For work done later on a user's behalf (a job acting as the user who asked for it)."""
    user = db.get(User, user_id)
    return user if user is not None and user.is_active else None


def users_with_jurisdiction(db: Session, code: str) -> list[User]:
    """The active users whose jurisdiction is exactly ``code`` (a division's caseworkers, whom a
    capability tells about a case of that division)."""
    return list(db.scalars(select(User).where(User.jurisdiction == code, User.is_active.is_(True))
                           .order_by(User.id)))


def user_ids_with_jurisdictions(db: Session, codes: Iterable[str]) -> dict[str, list[int]]:
    """``users_with_jurisdiction`` of many codes at once (the caseworkers of the villages of a
    monitoring run's thousands of cases): each code's active users' ids, in id order; every code is
    a key. One query per 500 codes."""
    wanted = list(dict.fromkeys(codes))
    found: dict[str, list[int]] = {code: [] for code in wanted}
    for start in range(0, len(wanted), 500):
        rows = db.execute(select(User.jurisdiction, User.id).where(
            User.jurisdiction.in_(wanted[start:start + 500]), User.is_active.is_(True)).order_by(User.id))
        for code, user_id in rows:
            found[str(code)].append(user_id)
    return found


# --- operators -----------------------------------------------------------------------------

def ensure_exchange_operator(db: Session, settings: Settings, uscc: str) -> Organisation:
    """The exchange's own organisation, created by ``qianshu init``."""
    org = db.scalar(select(Organisation).where(Organisation.org_type == "exchange_operator"))
    if org is None:
        org = Organisation(name=settings.exchange_name_zh, name_en=settings.exchange_name_en,
                           org_type="exchange_operator", uscc=uscc, division_code="520100",
                           contact_name="", contact_email="", status="approved")
        db.add(org)
        db.flush()
    return org


def staff_org_role(staff_role: str) -> str:
    """Operators administer the exchange organisation's users; reviewers and auditors do not."""
    return "admin" if staff_role == "operator" else "member"


def create_staff_user(db: Session, actor: Actor, org: Organisation, email: str, name: str, password: str,
                      staff_role: str) -> User:
    if staff_role not in ("operator", "reviewer", "auditor"):
        raise InvalidInput("{field}: {reason}", field="staff_role", reason="is not a known role")
    email = email.strip().lower()
    if db.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("This e-mail address is already in use.", code="email_in_use", field="email")
    user = User(org_id=org.id, email=email, display_name=name, password_hash=hash_password(password),
                org_role=staff_org_role(staff_role), staff_role=staff_role)
    db.add(user)
    db.flush()
    audit.record(db, actor, "user.staff_created", target_type="user", target_id=user.id,
                 target_org_id=org.id, role=staff_role)
    return user
