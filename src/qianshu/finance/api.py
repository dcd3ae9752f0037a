"""REST routes of finance, under /api/v1/finance. Money in fen, rates in basis points."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.core.http import AppSettings, DbSession, Signer
from qianshu.core.openapi import problems
from qianshu.finance import schemas, service

router = APIRouter(prefix="/api/v1/finance", tags=["finance"])


@router.get("/certificates/{number}/status", summary="Look up a certificate's standing",
            responses=problems(404, 422))
def certificate_status(number: str, db: DbSession, actor: CurrentActor) -> dict[str, Any]:
    """Valid, revoked, expired or transferred, and whether the asset is pledged; the pledgee,
    the holder and the exchange also get the pledges, their events and each event's inclusion
    proof in the public log."""
    return service.standing_json(service.standing(db, actor, number))


@router.post("/pledges", status_code=201, summary="Register a pledge", responses=problems(401, 403, 404, 409, 422))
def create_pledge(data: schemas.PledgeIn, db: DbSession, actor: SignedInActor, settings: AppSettings,
                  signer: Signer) -> dict[str, Any]:
    """A bank pledges a certified asset; it waits for the holder's confirmation."""
    return service.pledge_json(service.create_pledge(db, actor, settings, signer, data))


@router.get("/pledges", summary="List the bank's pledges", responses=problems(401, 403))
def list_pledges(db: DbSession, actor: SignedInActor) -> list[dict[str, Any]]:
    return [service.pledge_json(p) for p in service.portfolio(db, actor)]


@router.post("/pledges/{pledge_id}/confirm", summary="Confirm a pledge (the holder)",
             responses=problems(401, 403, 404, 409))
def confirm_pledge(pledge_id: int, db: DbSession, actor: SignedInActor, signer: Signer) -> dict[str, Any]:
    return service.pledge_json(service.confirm_pledge(db, actor, signer, pledge_id))


@router.post("/pledges/{pledge_id}/amend", summary="Amend a pledge (the pledgee)",
             responses=problems(401, 403, 404, 409, 422))
def amend_pledge(pledge_id: int, data: schemas.AmendIn, db: DbSession, actor: SignedInActor,
                 settings: AppSettings, signer: Signer) -> dict[str, Any]:
    return service.pledge_json(service.amend_pledge(db, actor, settings, signer, pledge_id, data))


@router.post("/pledges/{pledge_id}/release", summary="Release a pledge on repayment (the pledgee)",
             responses=problems(401, 403, 404, 409))
def release_pledge(pledge_id: int, data: schemas.CloseIn, db: DbSession, actor: SignedInActor,
                   signer: Signer) -> dict[str, Any]:
    return service.pledge_json(service.release_pledge(db, actor, signer, pledge_id, data.reason))


@router.post("/pledges/{pledge_id}/enforce", summary="Record a pledge's enforcement on default (the pledgee)",
             responses=problems(401, 403, 404, 409, 422))
def enforce_pledge(pledge_id: int, data: schemas.CloseIn, db: DbSession, actor: SignedInActor,
                   signer: Signer) -> dict[str, Any]:
    return service.pledge_json(service.enforce_pledge(db, actor, signer, pledge_id, data.reason))


@router.get("/ltv-limits", summary="List the bank's loan-to-value limits", responses=problems(401, 403))
def list_ltv_limits(db: DbSession, actor: SignedInActor) -> list[dict[str, Any]]:
    """Per product category ("" is the bank's default; without one, ``[finance] default_ltv_limit_bp``)."""
    return [{"category": row.category, "limit_bp": row.limit_bp} for row in service.ltv_limits(db, actor)]


@router.put("/ltv-limits", summary="Set the bank's loan-to-value limit for a product category",
            responses=problems(401, 403, 422))
def set_ltv_limit(data: schemas.LtvLimitIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    row = service.set_ltv_limit(db, actor, data)
    return {"category": row.category, "limit_bp": row.limit_bp}
