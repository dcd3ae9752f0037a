"""REST routes of vouchers, under /api/v1/vouchers. Money in fen, ratios in basis points; every
call that moves money takes an ``Idempotency-Key`` (core/idempotency.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.errors import Conflict
from qianshu.core.http import AppSettings, DbSession, get_lang, get_settings_dep, idempotent
from qianshu.core.i18n import N_, translate
from qianshu.core.openapi import problems
from qianshu.ledger.settings import LedgerSettings
from qianshu.vouchers import data_vouchers, org_picker, redemption, schemas, service, statistics, trust
from qianshu.vouchers.models import BrokenTrust, RelatedParties
from qianshu.vouchers.settings import VouchersSettings

router = APIRouter(prefix="/api/v1/vouchers", tags=["vouchers"])
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", max_length=255,
                                       description="Any unique text; a repeat returns the first answer, a 4xx refusal "
                                                   "included (409 broken_trust too): after the cause is "
                                                   "gone (a record lifted), retry with a new key.")]


NEW_KEY = N_("Once the record is lifted, send the request again with a new Idempotency-Key: this key keeps this "
             "answer.")


class HeldUnderKey(Conflict):
    """A broken-trust refusal (409 ``broken_trust``) of a request made with an ``Idempotency-Key``.
    Like every 4xx it is stored as the key's result (core/idempotency.py, as Stripe does), so a
    repeat with the same key gets it again even after the record is lifted; its text says so."""

    def render(self, lang: str) -> str:
        joint = "" if lang == "zh" else " "
        return f"{super().render(lang)}{joint}{translate(NEW_KEY, lang)}"


def _telling_the_key(work: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        try:
            return work()
        except Conflict as exc:
            if exc.code != "broken_trust":
                raise
            params = {k: v for k, v in exc.params.items() if k != "field"}
            raise HeldUnderKey(exc.message, code=exc.code, field=exc.field, **params) from exc
    return run


def _once(request: Request, db: DbSession, actor: Actor, body: Any, work: Callable[[], dict[str, Any]],
          status_code: int = 200) -> JSONResponse:
    ttl = get_settings_dep(request).section(LedgerSettings).idempotency_ttl
    caller = f"user:{actor.user_id}" if actor.user_id is not None else f"org:{actor.org_id}"
    return idempotent(request, db, caller, body, ttl, _telling_the_key(work), status_code=status_code)


@router.get("/directory", summary="Compute providers, their offerings and the province's declared capacity")
def directory(db: DbSession, actor: CurrentActor) -> dict[str, Any]:
    return service.directory(db, actor)


@router.post("/offerings", status_code=201, summary="Publish a compute offering (a compute provider)",
             responses=problems(401, 403, 422))
def publish_offering(data: schemas.OfferingIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    return service.offering_json(service.publish_offering(db, actor, data))


@router.get("/programmes", summary="Voucher programmes, with committed and remaining budget")
def list_programmes(db: DbSession, actor: CurrentActor) -> list[dict[str, Any]]:
    return [service.programme_json(p) for p in service.programmes(db, actor)]


@router.post("/programmes", status_code=201, summary="Create a programme; its budget moves from your wallet",
             responses=problems(401, 403, 409, 422))
def create_programme(data: schemas.ProgrammeIn, request: Request, db: DbSession, actor: SignedInActor,
                     key: IdempotencyKey = "") -> JSONResponse:
    service.require_create(actor)
    return _once(request, db, actor, data.model_dump(mode="json"),
                 lambda: service.programme_json(service.create_programme(db, actor, data)), 201)


@router.get("/programmes/{programme_id}", summary="A programme", responses=problems(404))
def get_programme(programme_id: int, db: DbSession, actor: CurrentActor) -> dict[str, Any]:
    return service.programme_json(service.get_programme(db, actor, programme_id))


@router.post("/programmes/{programme_id}/applications", status_code=201, summary="Apply for vouchers (a company)",
             responses=problems(401, 403, 404, 409, 422))
def apply(programme_id: int, data: schemas.ApplicationIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    return service.application_json(service.apply(db, actor, programme_id, data))


@router.get("/programmes/{programme_id}/applications", summary="A programme's applications (its administrator)",
            responses=problems(401, 403, 404))
def list_applications(programme_id: int, db: DbSession, actor: SignedInActor) -> list[dict[str, Any]]:
    return [service.application_json(a) for a in service.applications(db, actor, programme_id)]


@router.post("/applications/{application_id}/decision", summary="Approve (vouchers are issued) or reject",
             responses=problems(401, 403, 404, 409, 422))
def decide_application(application_id: int, data: schemas.DecisionIn, db: DbSession,
                       actor: SignedInActor) -> dict[str, Any]:
    return service.application_json(service.decide_application(db, actor, application_id, data))


@router.post("/programmes/{programme_id}/related-parties", status_code=201,
             summary="Mark two organisations related (no voucher pays between them)",
             responses=problems(401, 403, 404, 422))
def mark_related(programme_id: int, data: schemas.RelatedIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    return _related_json(trust.mark_related(db, actor, programme_id, data))


@router.post("/programmes/{programme_id}/related-parties/unmark",
             summary="Unmark two related organisations, with the reason", responses=problems(401, 403, 404, 409, 422))
def unmark_related(programme_id: int, data: schemas.UnmarkRelatedIn, db: DbSession,
                   actor: SignedInActor) -> dict[str, Any]:
    return _related_json(trust.unmark_related(db, actor, programme_id, data))


def _related_json(row: RelatedParties) -> dict[str, Any]:
    return {"programme_id": row.programme_id, "org_a_id": row.org_a_id, "org_b_id": row.org_b_id,
            "reason": row.reason, "unmarked": row.unmarked_at is not None, "unmark_reason": row.unmark_reason}


@router.post("/programmes/{programme_id}/broken-trust", status_code=201,
             summary="Record a broken-trust record of an organisation (it may not apply), with source and reason",
             responses=problems(401, 403, 404, 409, 422))
def record_broken_trust(programme_id: int, data: schemas.BrokenTrustIn, db: DbSession,
                        actor: SignedInActor) -> dict[str, Any]:
    return _trust_json(trust.record_broken_trust(db, actor, programme_id, data))


@router.post("/programmes/{programme_id}/broken-trust/lift", summary="Lift a broken-trust record, with the reason",
             responses=problems(401, 403, 404, 409, 422))
def lift_broken_trust(programme_id: int, data: schemas.LiftBrokenTrustIn, db: DbSession,
                      actor: SignedInActor) -> dict[str, Any]:
    return _trust_json(trust.lift_broken_trust(db, actor, programme_id, data))


def _trust_json(row: BrokenTrust) -> dict[str, Any]:
    return {"programme_id": row.programme_id, "admin_org_id": row.admin_org_id, "org_id": row.org_id,
            "source": row.source, "reason": row.reason,
            "lifted": row.lifted_at is not None, "lift_reason": row.lift_reason}


@router.get("/programmes/{programme_id}/organisations", response_model=schemas.OrganisationMatches,
            summary="Approved organisations whose name (Chinese or English) or USCC contains the text "
            "(the programme's administrator)", responses=problems(401, 403, 404, 422))
def find_organisations(programme_id: int, request: Request, db: DbSession, actor: SignedInActor,
                       q: Annotated[str, Query(description="Part of a name or USCC, taken literally; at most "
                                                           "200 characters.")] = "") -> dict[str, Any]:
    lang = get_lang(request)
    return {"organisations": [{"id": c.id, **c.json(), "label": c.label(lang)}
                              for c in org_picker.lookup(db, actor, programme_id, q)]}


@router.get("/programmes/{programme_id}/trust-records",
            summary="Related parties and broken-trust records of a programme (its administrator), by name or USCC",
            responses=problems(401, 403, 404))
def trust_records(programme_id: int, db: DbSession, actor: SignedInActor, q: str = "") -> dict[str, Any]:
    found = trust.trust_records(db, actor, programme_id, q)
    return {"related_parties": [{"org_a": asdict(r.a), "org_b": asdict(r.b), "reason": r.reason,
                                 "unmarked": r.unmarked_at is not None, "unmark_reason": r.unmark_reason}
                                for r in found.related],
            "broken_trust": [{"org": asdict(t.org), "source": t.source, "reason": t.reason,
                              "lifted": t.lifted_at is not None, "lift_reason": t.lift_reason,
                              "recorded_by": asdict(t.recorded_by), "own": t.own}
                             for t in found.broken_trust]}


@router.get("/vouchers", summary="Your organisation's vouchers", responses=problems(401, 403))
def my_vouchers(db: DbSession, actor: SignedInActor) -> list[dict[str, Any]]:
    return [service.voucher_json(v) for v in service.vouchers_of(db, actor)]


@router.post("/programmes/{programme_id}/orders", status_code=201,
             summary="Order compute, paying with vouchers up to the ratio and caps and the rest from your wallet",
             responses=problems(401, 403, 404, 409, 422))
def place_order(programme_id: int, data: schemas.OrderIn, request: Request, db: DbSession, actor: SignedInActor,
                key: IdempotencyKey = "") -> JSONResponse:
    service.require_apply(actor)
    return _once(request, db, actor, data.model_dump(mode="json"),
                 lambda: redemption.order_json(redemption.place_order(db, actor, programme_id, data)), 201)


@router.post("/programmes/{programme_id}/contract-payments", status_code=201,
             summary="Pay an exchange contract with data vouchers up to the ratio and caps, the rest from your wallet",
             responses=problems(401, 403, 404, 409, 422))
def pay_contract(programme_id: int, data: schemas.ContractPaymentIn, request: Request, db: DbSession,
                 actor: SignedInActor, key: IdempotencyKey = "") -> JSONResponse:
    service.require_apply(actor)
    return _once(request, db, actor, data.model_dump(mode="json"),
                 lambda: redemption.order_json(data_vouchers.pay_contract(db, actor, programme_id, data)), 201)


@router.get("/orders", summary="Orders of your organisation (company, provider or administrator)",
            responses=problems(401, 403))
def my_orders(db: DbSession, actor: SignedInActor) -> list[dict[str, Any]]:
    return [redemption.order_json(o) for o in redemption.orders_of(db, actor)]


@router.get("/orders/{order_id}", summary="An order", responses=problems(401, 403, 404))
def get_order(order_id: int, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    return redemption.order_json(redemption.get_order(db, actor, order_id))


@router.post("/orders/{order_id}/usage", summary="Report metered usage with its evidence: the bill settles on it",
             responses=problems(401, 403, 404, 409, 422))
def report_usage(order_id: int, data: schemas.UsageIn, request: Request, db: DbSession, actor: SignedInActor,
                 settings: AppSettings, key: IdempotencyKey = "") -> JSONResponse:
    redemption.authorise_delivery(db, actor, order_id)
    limit = settings.section(VouchersSettings).max_evidence_bytes
    return _once(request, db, actor, data.model_dump(), lambda: redemption.order_json(redemption.report_usage(
        db, actor, open_blob_store(settings), order_id, data, limit)))


@router.post("/orders/{order_id}/reimbursement", status_code=201,
             summary="Claim the voucher part from the programme (the provider)",
             responses=problems(401, 403, 404, 409, 422))
def claim(order_id: int, data: schemas.ClaimIn, db: DbSession, actor: SignedInActor,
          settings: AppSettings) -> dict[str, Any]:
    limit = settings.section(VouchersSettings).max_evidence_bytes
    return redemption.claim_json(redemption.claim_reimbursement(db, actor, open_blob_store(settings), order_id,
                                                                data, limit))


@router.get("/programmes/{programme_id}/claims", summary="Reimbursement claims (the programme's administrator)",
            responses=problems(401, 403, 404))
def list_claims(programme_id: int, db: DbSession, actor: SignedInActor) -> list[dict[str, Any]]:
    return [redemption.claim_json(c) for c in redemption.claims(db, actor, programme_id)]


@router.post("/claims/{claim_id}/decision", summary="Approve (the budget pays the provider) or reject a claim",
             responses=problems(401, 403, 404, 409, 422))
def decide_claim(claim_id: int, data: schemas.ClaimDecisionIn, request: Request, db: DbSession,
                 actor: SignedInActor, key: IdempotencyKey = "") -> JSONResponse:
    redemption.authorise_claim_decision(db, actor, claim_id)
    return _once(request, db, actor, data.model_dump(),
                 lambda: redemption.claim_json(redemption.decide_claim(db, actor, claim_id, data)))


@router.get("/dashboard", summary="Budget used, vouchers issued and redeemed, card-hours, by provider, purpose, "
            "month and city")
def dashboard(db: DbSession, actor: CurrentActor, programme_id: int | None = None) -> dict[str, Any]:
    board = statistics.dashboard(db, actor, programme_id)
    return {"budget_fen": board.budget_fen, "committed_fen": board.committed_fen,
            "reimbursed_fen": board.reimbursed_fen, "vouchers_issued": board.vouchers_issued,
            "issued_fen": board.issued_fen, "orders": board.orders, "redeemed_fen": board.redeemed_fen,
            "card_hours": board.card_hours,
            "series": {name: [{"key": p.key, "count": p.count, "amount_fen": p.amount_fen, "label_zh": p.label_zh,
                               "label_en": p.label_en} for p in points] for name, points in board.series.items()}}
