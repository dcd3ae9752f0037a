"""REST routes of the accounts capability, under /api/v1. Handlers only translate HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from qianshu.accounts import inbox_views, passwords, schemas, service
from qianshu.accounts.audit_views import AuditFilter, browse_audit
from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.accounts.job_views import list_jobs, retry_job
from qianshu.core.db import Database
from qianshu.core.http import DbSession, Lang, public_url, read_in_thread
from qianshu.core.openapi import problems

router = APIRouter(prefix="/api/v1", tags=["accounts"])


def warm_up(database: Database) -> None:
    """Called on a thread when the app starts: the dummy hash that a sign-in for an unknown account
    is checked against exists before the first sign-in, so that sign-in takes no longer than others."""
    passwords.warm_up()


@router.post("/organisations", status_code=201, response_model=schemas.OrganisationOut,
             summary="Apply to join as an organisation", responses=problems(409))
def apply(data: schemas.OrganisationApplication, db: DbSession, actor: CurrentActor) -> object:
    return service.apply_organisation(db, actor, data)


@router.get("/organisations", response_model=list[schemas.OrganisationOut], summary="List organisations")
def organisations(db: DbSession, actor: SignedInActor,
                  status: Annotated[str | None, Query(max_length=16)] = None) -> object:
    return service.list_organisations(db, actor, status)


@router.get("/organisations/{org_id}", response_model=schemas.OrganisationOut,
            summary="Get an organisation", responses=problems(404))
def organisation(org_id: int, db: DbSession, actor: SignedInActor) -> object:
    return service.get_organisation(db, actor, org_id)


@router.post("/organisations/{org_id}/{decision}", response_model=schemas.OrganisationOut,
             summary="Approve, reject or suspend an organisation", responses=problems(404, 409))
def review(org_id: int, decision: str, data: schemas.ReviewDecision, db: DbSession, actor: SignedInActor) -> object:
    return service.review_organisation(db, actor, org_id, decision, data.reason)


@router.get("/me", response_model=schemas.UserOut, summary="Get the signed-in user")
async def me(request: Request, actor: SignedInActor) -> object:
    # async with one read on a worker thread: a token client's most frequent call (core/http.py)
    return await read_in_thread(request, lambda db: schemas.UserOut.model_validate(service.current_user(db, actor)))


@router.get("/organisations/{org_id}/users", response_model=list[schemas.UserOut],
            summary="List an organisation's users", responses=problems(404))
def users(org_id: int, db: DbSession, actor: SignedInActor) -> object:
    return service.list_users(db, actor, org_id)


@router.post("/invitations", status_code=201, summary="Invite a user to your organisation", responses=problems(409))
def invite(data: schemas.InvitationIn, request: Request, db: DbSession, actor: SignedInActor) -> dict[str, object]:
    invitation, raw = service.invite_user(db, actor, data)
    return {"id": invitation.id, "email": invitation.email, "expires_at": invitation.expires_at,
            "accept_url": public_url(request, "accept_invitation_page", token=raw)}


@router.delete("/users/{user_id}", status_code=204,
               summary="Remove a user from your organisation", responses=problems(404, 409))
def remove(user_id: int, db: DbSession, actor: SignedInActor) -> None:
    service.remove_user(db, actor, user_id)


@router.put("/users/{user_id}/jurisdiction", response_model=schemas.UserOut,
            summary="Set a user's jurisdiction (a division code, or none)", responses=problems(404))
def set_jurisdiction(user_id: int, data: schemas.JurisdictionIn, db: DbSession, actor: SignedInActor) -> object:
    return service.set_jurisdiction(db, actor, user_id, data.jurisdiction)


@router.get("/tokens", response_model=list[schemas.TokenOut], summary="List your API tokens")
def tokens(db: DbSession, actor: SignedInActor) -> object:
    return service.list_tokens(db, actor)


@router.post("/tokens", status_code=201, response_model=schemas.NewToken, summary="Create an API token")
def create_token(data: schemas.TokenIn, db: DbSession, actor: SignedInActor) -> object:
    token, raw = service.create_token(db, actor, data)
    return schemas.NewToken.model_validate({**schemas.TokenOut.model_validate(token).model_dump(), "token": raw})


@router.delete("/tokens/{token_id}", response_model=schemas.TokenOut,
               summary="Revoke an API token", responses=problems(404))
def revoke_token(token_id: int, db: DbSession, actor: SignedInActor) -> object:
    return service.revoke_token(db, actor, token_id)


@router.get("/audit", response_model=list[schemas.AuditOut], summary="Browse the audit trail")
def audit_trail(db: DbSession, actor: SignedInActor,
                action: Annotated[str, Query(max_length=80)] = "",
                org_id: int | None = None, user_id: int | None = None,
                page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> object:
    return browse_audit(db, actor, AuditFilter(action=action, org_id=org_id, user_id=user_id, page=page)).events


@router.get("/jobs", response_model=list[schemas.JobOut], summary="List background jobs")
def jobs(db: DbSession, actor: SignedInActor, lang: Lang,
         status: Annotated[str, Query(pattern="^(|queued|running|failed)$")] = "") -> object:
    """Queued, running and failed background jobs, newest first (operators)."""
    return list_jobs(db, actor, lang, status)


@router.post("/jobs/{job_id}/retry", response_model=schemas.JobOut,
             summary="Retry a failed background job", responses=problems(404, 409))
def retry(job_id: int, db: DbSession, actor: SignedInActor, lang: Lang) -> object:
    """Put a failed job back in the queue (operators; audited)."""
    return retry_job(db, actor, job_id, lang)


@router.get("/inbox", response_model=list[schemas.InboxEntryOut])
def inbox(db: DbSession, actor: SignedInActor, lang: Lang, unread: bool = False) -> object:
    """The signed-in user's notifications and their organisation's, newest first."""
    return inbox_views.list_inbox(db, actor, lang, unread_only=unread)


@router.get("/inbox/unread", response_model=schemas.UnreadOut)
def inbox_unread(db: DbSession, actor: SignedInActor) -> object:
    """How many notifications are unread: the user's own, their organisation's, in all."""
    counts = inbox_views.unread(db, actor)
    return {"user": counts.user, "organisation": counts.organisation, "total": counts.total}


@router.post("/inbox/read")
def inbox_read(data: schemas.MarkReadIn, db: DbSession, actor: SignedInActor) -> dict[str, int]:
    """Mark the given notifications (or all unread ones) read."""
    return {"marked": inbox_views.mark_read(db, actor, data.ids)}
