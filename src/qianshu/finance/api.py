"""REST routes of finance, under /api/v1/finance. Money in fen, rates in basis points."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.core.http import AppSettings, DbSession, Signer
from qianshu.core.openapi import problems
from qianshu.finance import accounting_api, sale, schemas, service, valuation

rest = APIRouter(prefix="/api/v1/finance", tags=["finance"])


@rest.get("/certificates/{number}/status", summary="Look up a certificate's standing",
            responses=problems(404, 422))
def certificate_status(number: str, db: DbSession, actor: CurrentActor) -> dict[str, Any]:
    """Valid, revoked, expired or transferred, and whether the asset is pledged; the pledgee,
    the holder and the exchange also get the pledges, their events and each event's inclusion
    proof in the public log."""
    return service.standing_json(service.standing(db, actor, number))


@rest.post("/pledges", status_code=201, summary="Register a pledge", responses=problems(401, 403, 404, 409, 422))
def create_pledge(data: schemas.PledgeIn, db: DbSession, actor: SignedInActor, settings: AppSettings,
                  signer: Signer) -> dict[str, Any]:
    """A bank pledges a certified asset; it waits for the holder's confirmation."""
    return service.pledge_json(service.create_pledge(db, actor, settings, signer, data))


@rest.get("/pledges", summary="List the bank's pledges", responses=problems(401, 403))
def list_pledges(db: DbSession, actor: SignedInActor) -> list[dict[str, Any]]:
    return [service.pledge_json(p) for p in service.portfolio(db, actor)]


@rest.post("/pledges/{pledge_id}/confirm", summary="Confirm a pledge (the holder)",
             responses=problems(401, 403, 404, 409))
def confirm_pledge(pledge_id: int, db: DbSession, actor: SignedInActor, signer: Signer) -> dict[str, Any]:
    return service.pledge_json(service.confirm_pledge(db, actor, signer, pledge_id))


@rest.post("/pledges/{pledge_id}/amend", summary="Amend a pledge (the pledgee)",
             responses=problems(401, 403, 404, 409, 422))
def amend_pledge(pledge_id: int, data: schemas.AmendIn, db: DbSession, actor: SignedInActor,
                 settings: AppSettings, signer: Signer) -> dict[str, Any]:
    return service.pledge_json(service.amend_pledge(db, actor, settings, signer, pledge_id, data))


@rest.post("/pledges/{pledge_id}/release", summary="Release a pledge on repayment (the pledgee)",
             responses=problems(401, 403, 404, 409))
def release_pledge(pledge_id: int, data: schemas.CloseIn, db: DbSession, actor: SignedInActor,
                   signer: Signer) -> dict[str, Any]:
    return service.pledge_json(service.release_pledge(db, actor, signer, pledge_id, data.reason))


@rest.post("/pledges/{pledge_id}/enforce", summary="Record a pledge's enforcement on default (the pledgee)",
             responses=problems(401, 403, 404, 409, 422))
def enforce_pledge(pledge_id: int, data: schemas.EnforceIn, db: DbSession, actor: SignedInActor,
                   signer: Signer) -> dict[str, Any]:
    """``mode``: ``record`` (default), ``transfer`` (the rights pass to the bank through the
    registry's transfer, submitted for review) or ``sale`` (offered in a forced sale on the exchange
    at ``price_fen``; the pledge is ``selling`` until someone buys)."""
    if data.mode == "sale":
        listed = sale.list_forced_sale(db, actor, signer, pledge_id, data.price_fen, data.reason, data.closes_in_days,
                                       data.step_fen)
        return dict(service.pledge_json(service.pledge_by_id(db, listed.pledge_id)), forced_sale=sale.sale_json(listed))
    return service.pledge_json(service.enforce_pledge(db, actor, signer, pledge_id, data.reason, data.mode))


@rest.get("/ltv-limits", summary="List the bank's loan-to-value limits", responses=problems(401, 403))
def list_ltv_limits(db: DbSession, actor: SignedInActor) -> list[dict[str, Any]]:
    """Per product category ("" is the bank's default; without one, ``[finance] default_ltv_limit_bp``)."""
    return [{"category": row.category, "limit_bp": row.limit_bp} for row in service.ltv_limits(db, actor)]


@rest.put("/ltv-limits", summary="Set the bank's loan-to-value limit for a product category",
            responses=problems(401, 403, 422))
def set_ltv_limit(data: schemas.LtvLimitIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    row = service.set_ltv_limit(db, actor, data)
    return {"category": row.category, "limit_bp": row.limit_bp}


@rest.post("/valuations", status_code=201, summary="Start a valuation worksheet (an appraiser)",
             responses=problems(401, 403, 404, 409, 422))
def start_valuation(data: schemas.ValuationStart, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    """Prefilled with the information attributes of the certificate's registration."""
    return valuation.valuation_json(db, valuation.start_valuation(db, actor, data))


@rest.get("/valuations/{valuation_id}", summary="A valuation, its worksheet and (once signed) its signature",
            responses=problems(404))
def get_valuation(valuation_id: int, db: DbSession, actor: CurrentActor) -> dict[str, Any]:
    return valuation.valuation_json(db, valuation.get_valuation(db, actor, valuation_id))


@rest.put("/valuations/{valuation_id}", summary="Fill in a worksheet (recomputed at once)",
            responses=problems(401, 403, 404, 409, 422))
def update_valuation(valuation_id: int, data: schemas.ValuationIn, db: DbSession, actor: SignedInActor,
                     settings: AppSettings) -> dict[str, Any]:
    """Money in fen; percentages and adjustment factors in basis points (a factor of 1.0 is 10 000)."""
    return valuation.valuation_json(db, valuation.update_valuation(db, actor, settings, valuation_id, data))


@rest.post("/valuations/{valuation_id}/sign", summary="Sign a valuation with the appraiser's own key",
             responses=problems(401, 403, 404, 409, 422))
def sign_valuation(valuation_id: int, db: DbSession, actor: SignedInActor, settings: AppSettings,
                   signer: Signer) -> dict[str, Any]:
    return valuation.valuation_json(db, valuation.sign_valuation(db, actor, settings, signer, valuation_id))


@rest.get("/appraisers/{org_id}/public-key", summary="An appraiser organisation's public key (PEM)",
            responses=problems(404))
def appraiser_public_key(org_id: int, db: DbSession) -> dict[str, Any]:
    key = valuation.appraiser_public_key(db, org_id)
    return {"org_id": org_id, "key_id": key.key_id, "algorithm": "Ed25519", "public_key_pem": key.public_key_pem}


@rest.post("/pledges/{pledge_id}/amendments", summary="Propose an amendment (the pledgee or the pledgor)",
             responses=problems(401, 403, 404, 409, 422))
def propose_amendment(pledge_id: int, data: schemas.AmendIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    """The other party agrees or declines with ``…/amendments/decision``."""
    pledge = service.propose_amendment(db, actor, pledge_id, data)
    return dict(service.pledge_json(pledge), proposed_amendment=pledge.proposed_amendment)


@rest.post("/pledges/{pledge_id}/amendments/decision", summary="Agree to or decline a proposed amendment",
             responses=problems(401, 403, 404, 409, 422))
def decide_amendment(pledge_id: int, data: schemas.AmendmentDecisionIn, db: DbSession, actor: SignedInActor,
                     settings: AppSettings, signer: Signer) -> dict[str, Any]:
    pledge = service.decide_amendment(db, actor, settings, signer, pledge_id, data.agree)
    return dict(service.pledge_json(pledge), proposed_amendment=pledge.proposed_amendment)


# The app mounts ``router``; each part carries its own prefix (the matrix walks included routers
# without their parents' prefixes).
router = APIRouter()
router.include_router(rest)
router.include_router(accounting_api.router)  # the accounting pack and the forced sale
