"""REST routes of the accounts capability, under /api/v1. Handlers only translate HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from qianshu.accounts import schemas, service
from qianshu.accounts.audit_views import AuditFilter, browse_audit
from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.accounts.job_views import list_jobs, retry_job
from qianshu.core.http import DbSession, Lang

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.post("/organisations", status_code=201, response_model=schemas.OrganisationOut)
def apply(data: schemas.OrganisationApplication, db: DbSession, actor: CurrentActor) -> object:
    return service.apply_organisation(db, actor, data)


@router.get("/organisations", response_model=list[schemas.OrganisationOut])
def organisations(db: DbSession, actor: SignedInActor,
                  status: Annotated[str | None, Query(max_length=16)] = None) -> object:
    return service.list_organisations(db, actor, status)


@router.get("/organisations/{org_id}", response_model=schemas.OrganisationOut)
def organisation(org_id: int, db: DbSession, actor: SignedInActor) -> object:
    return service.get_organisation(db, actor, org_id)


@router.post("/organisations/{org_id}/{decision}", response_model=schemas.OrganisationOut)
def review(org_id: int, decision: str, data: schemas.ReviewDecision, db: DbSession, actor: SignedInActor) -> object:
    return service.review_organisation(db, actor, org_id, decision, data.reason)


@router.get("/me", response_model=schemas.UserOut)
def me(db: DbSession, actor: SignedInActor) -> object:
    return next(u for u in service.list_users(db, actor, actor.org_id or 0) if u.id == actor.user_id)


@router.get("/organisations/{org_id}/users", response_model=list[schemas.UserOut])
def users(org_id: int, db: DbSession, actor: SignedInActor) -> object:
    return service.list_users(db, actor, org_id)


@router.post("/invitations", status_code=201)
def invite(data: schemas.InvitationIn, request: Request, db: DbSession, actor: SignedInActor) -> dict[str, object]:
    invitation, raw = service.invite_user(db, actor, data)
    return {"id": invitation.id, "email": invitation.email, "expires_at": invitation.expires_at,
            "accept_url": str(request.url_for("accept_invitation_page", token=raw))}


@router.delete("/users/{user_id}", status_code=204)
def remove(user_id: int, db: DbSession, actor: SignedInActor) -> None:
    service.remove_user(db, actor, user_id)


@router.put("/users/{user_id}/jurisdiction", response_model=schemas.UserOut)
def set_jurisdiction(user_id: int, data: schemas.JurisdictionIn, db: DbSession, actor: SignedInActor) -> object:
    return service.set_jurisdiction(db, actor, user_id, data.jurisdiction)


@router.get("/tokens", response_model=list[schemas.TokenOut])
def tokens(db: DbSession, actor: SignedInActor) -> object:
    return service.list_tokens(db, actor)


@router.post("/tokens", status_code=201, response_model=schemas.NewToken)
def create_token(data: schemas.TokenIn, db: DbSession, actor: SignedInActor) -> object:
    token, raw = service.create_token(db, actor, data)
    return schemas.NewToken.model_validate({**schemas.TokenOut.model_validate(token).model_dump(), "token": raw})


@router.delete("/tokens/{token_id}", response_model=schemas.TokenOut)
def revoke_token(token_id: int, db: DbSession, actor: SignedInActor) -> object:
    return service.revoke_token(db, actor, token_id)


@router.get("/audit", response_model=list[schemas.AuditOut])
def audit_trail(db: DbSession, actor: SignedInActor,
                action: Annotated[str, Query(max_length=80)] = "",
                org_id: int | None = None, user_id: int | None = None,
                page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> object:
    return browse_audit(db, actor, AuditFilter(action=action, org_id=org_id, user_id=user_id, page=page)).events


@router.get("/jobs", response_model=list[schemas.JobOut])
def jobs(db: DbSession, actor: SignedInActor, lang: Lang,
         status: Annotated[str, Query(pattern="^(|queued|running|failed)$")] = "") -> object:
    """Queued, running and failed background jobs, newest first (operators)."""
    return list_jobs(db, actor, lang, status)


@router.post("/jobs/{job_id}/retry", response_model=schemas.JobOut)
def retry(job_id: int, db: DbSession, actor: SignedInActor, lang: Lang) -> object:
    """Put a failed job back in the queue (operators; audited)."""
    return retry_job(db, actor, job_id, lang)
