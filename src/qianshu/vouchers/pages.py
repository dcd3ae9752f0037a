"""Portal pages of vouchers: the public directory and dashboard, a programme's page (apply, order,
and for its administrator the applications and claims to decide), the organisation's vouchers and
orders, and an order's page (the provider reports usage and claims reimbursement). Forms call the
same services as the API; a refused form rolls back and shows its page again with what was typed
and every error beside its field (``core.http.answer_form``). Who may not use a form at all (the
checks made before its work) gets the error page."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.errors import InvalidInput, NotFound
from qianshu.core.forms import Form, Typed, validate_form
from qianshu.core.http import (
    AppSettings,
    DbSession,
    PostedForm,
    answer_form,
    form_fields,
    get_lang,
    render,
    see_other,
)
from qianshu.core.i18n import N_
from qianshu.core.read_models import extend
from qianshu.ledger.service import parse_yuan
from qianshu.vouchers import (
    contract_pages,
    publish_pages,
    read_models,
    redemption,
    schemas,
    service,
    statistics,
    trust_pages,
)
from qianshu.vouchers.models import Programme
from qianshu.vouchers.settings import VouchersSettings

router = APIRouter(include_in_schema=False)
# Each form's fields as its page labels them (English message ids), keyed by the schema's names.
APPLY_LABELS = {"purpose": N_("Purpose"), "company_size": N_("Company size"), "planned_use": N_("Planned use"),
                "requested_fen": N_("Amount asked for")}
ORDER_LABELS = {"offering_id": N_("Offering"), "card_hours": N_("Card-hours"), "month": N_("Month"),
                "term_months": N_("Term (months)"), "purpose": N_("Purpose"), "voucher_ids": N_("Vouchers"),
                "voucher_fen": N_("Vouchers")}
DECISION_LABELS = {"reason": N_("Reason")}
USAGE_LABELS = {"used_card_hours": N_("Card-hours used"), "evidence_base64": N_("Metering evidence")}
CLAIM_LABELS = {"invoice_number": N_("Invoice number"), "delivery_proof_base64": N_("Proof of delivery"),
                "payment_proof_base64": N_("Proof of the company's payment")}
router.include_router(publish_pages.router)  # offering and programme forms
router.include_router(contract_pages.router)  # paying an exchange contract with data vouchers
router.include_router(trust_pages.router)  # related parties and broken-trust records


@router.get("/vouchers")
def directory(request: Request, db: DbSession, actor: CurrentActor) -> Response:
    return render(request, "vouchers/directory.html", read_models.directory(db, actor))


@dataclass
class DashboardPage:
    board: statistics.Dashboard
    programme: Programme | None
    query: str


@router.get("/vouchers/dashboard")
def dashboard(request: Request, db: DbSession, actor: CurrentActor, programme_id: int | None = None) -> Response:
    programme = service.get_programme(db, actor, programme_id) if programme_id else None
    return render(request, "vouchers/dashboard.html", DashboardPage(
        statistics.dashboard(db, actor, programme_id), programme,
        f"?programme_id={programme_id}" if programme_id else ""))


@router.get("/vouchers/dashboard/{series}.csv")
def dashboard_csv(series: str, request: Request, db: DbSession, actor: CurrentActor,
                  programme_id: int | None = None) -> Response:
    if series not in statistics.SERIES:
        raise NotFound("No such series: {series}.", field="series", series=series[:40])
    board = statistics.dashboard(db, actor, programme_id)
    return Response(statistics.to_csv(board.series[series], get_lang(request)), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="vouchers-{series}.csv"'})


@dataclass(frozen=True)
class ProgrammePage(read_models.ProgrammeView):
    """A programme's page: its read model (``read_models.programme_view``) and the posted form, refused:
    "apply", "order", "decision-{id}", "claim-{id}"."""

    form: Form = field(default_factory=Form)


def _programme_page(db: DbSession, actor: Actor, programme_id: int, form: Form | None = None) -> tuple[str, Any]:
    view = read_models.programme_view(db, actor, programme_id)
    return "vouchers/programme.html", extend(ProgrammePage, view, form=form or Form())


@router.get("/vouchers/programmes/{programme_id:int}")
def programme_page(programme_id: int, request: Request, db: DbSession, actor: CurrentActor) -> Response:
    return render(request, *_programme_page(db, actor, programme_id))


def _on_programme_page(request: Request, db: DbSession, actor: Actor, programme_id: int, name: str,
                       typed: dict[str, Any], labels: dict[str, str], work: Callable[[], object]) -> Response:
    """Run a form of the programme page; refused, the page again with the form ``name`` kept."""
    def done() -> Response:
        work()
        return see_other(f"/vouchers/programmes/{programme_id}")

    return answer_form(request, db, typed, labels, done,
                       lambda form: _programme_page(db, actor, programme_id, form), name=name)


@router.post("/vouchers/programmes/{programme_id:int}/apply")
def apply(programme_id: int, request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    service.require_apply(actor)
    typed = form_fields(posted)

    def work() -> None:
        convert = Typed()
        data = validate_form(schemas.ApplicationIn, {
            "purpose": typed.get("purpose", ""), "company_size": typed.get("company_size", ""),
            "planned_use": typed.get("planned_use", ""),
            "requested_fen": convert(parse_yuan, str(typed.get("requested_yuan", "")), "requested_fen")},
            convert.errors)
        service.apply(db, actor, programme_id, data)

    return _on_programme_page(request, db, actor, programme_id, "apply", typed, APPLY_LABELS, work)


def _decision(typed: dict[str, Any]) -> dict[str, Any]:
    return {"approve": typed.get("decision") == "approve", "reason": typed.get("reason", "")}


@router.post("/vouchers/applications/{application_id:int}/decide")
def decide_application(application_id: int, request: Request, db: DbSession, actor: SignedInActor,
                       posted: PostedForm) -> Response:
    programme_id = service.authorise_decision(db, actor, application_id)
    typed = form_fields(posted)
    return _on_programme_page(request, db, actor, programme_id, f"decision-{application_id}", typed, DECISION_LABELS,
                              lambda: service.decide_application(db, actor, application_id,
                                                                 validate_form(schemas.DecisionIn, _decision(typed))))


@router.post("/vouchers/programmes/{programme_id:int}/order")
def place_order(programme_id: int, request: Request, db: DbSession, actor: SignedInActor,
                posted: PostedForm) -> Response:
    service.require_apply(actor)
    typed = form_fields(posted, lists=("voucher_ids",))
    typed.setdefault("voucher_ids", [])

    def work() -> Response:
        data = validate_form(schemas.OrderIn, {
            "offering_id": typed.get("offering_id", ""), "card_hours": typed.get("card_hours", ""),
            "month": typed.get("month", ""), "term_months": typed.get("term_months", "1"),
            "purpose": typed.get("purpose", ""), "voucher_ids": typed["voucher_ids"]})
        order = redemption.place_order(db, actor, programme_id, data)
        return see_other(f"/vouchers/orders/{order.id}")

    return answer_form(request, db, typed, ORDER_LABELS, work,
                       lambda form: _programme_page(db, actor, programme_id, form), name="order")


@router.get("/vouchers/mine")
def mine(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return render(request, "vouchers/mine.html", read_models.mine(db, actor))


@dataclass(frozen=True)
class OrderPage(read_models.OrderView):
    """An order's page: its read model (``read_models.order_view``) and the posted form, refused:
    "usage" or "claim"."""

    form: Form = field(default_factory=Form)


def _order_page(db: DbSession, actor: Actor, order_id: int, form: Form | None = None) -> tuple[str, Any]:
    return "vouchers/order.html", extend(OrderPage, read_models.order_view(db, actor, order_id),
                                         form=form or Form())


@router.get("/vouchers/orders/{order_id:int}")
def order_page(order_id: int, request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return render(request, *_order_page(db, actor, order_id))


def _file(posted: Any, name: str, field: str, limit: int, *, required: bool = True) -> str:
    """An uploaded file as base64 (the schemas' form of a file, ``field``), read on the route's worker thread."""
    upload = posted.get(name)
    if not isinstance(upload, UploadFile) or not upload.filename:
        if required:
            raise InvalidInput("{field}: choose a file.", field=field)
        return ""
    content = upload.file.read(limit + 1)
    if len(content) > limit:
        raise InvalidInput("{field}: the file is larger than {limit} bytes.", field=field, limit=limit)
    return base64.b64encode(content).decode()


def _on_order_page(request: Request, db: DbSession, actor: Actor, order_id: int, name: str, typed: dict[str, Any],
                   labels: dict[str, str], work: Callable[[], object]) -> Response:
    """Run a form of the order page; refused, the page again with the form ``name`` kept."""
    def done() -> Response:
        work()
        return see_other(f"/vouchers/orders/{order_id}")

    return answer_form(request, db, typed, labels, done, lambda form: _order_page(db, actor, order_id, form),
                       name=name)


@router.post("/vouchers/orders/{order_id:int}/usage")
def report_usage(order_id: int, request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm,
                 settings: AppSettings) -> Response:
    redemption.authorise_delivery(db, actor, order_id)
    limit = settings.section(VouchersSettings).max_evidence_bytes
    typed = form_fields(posted)

    def work() -> None:
        convert = Typed()
        upload = posted.get("evidence")
        data = validate_form(schemas.UsageIn, {
            "used_card_hours": typed.get("used_card_hours", ""),
            "evidence_base64": convert(_file, posted, "evidence", "evidence_base64", limit),
            "evidence_name": getattr(upload, "filename", "") or "evidence"}, convert.errors)
        redemption.report_usage(db, actor, open_blob_store(settings), order_id, data, limit)

    return _on_order_page(request, db, actor, order_id, "usage", typed, USAGE_LABELS, work)


@router.post("/vouchers/orders/{order_id:int}/claim")
def claim(order_id: int, request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm,
          settings: AppSettings) -> Response:
    redemption.authorise_delivery(db, actor, order_id)
    limit = settings.section(VouchersSettings).max_evidence_bytes
    typed = form_fields(posted)

    def work() -> None:
        convert = Typed()
        data = validate_form(schemas.ClaimIn, {
            "invoice_number": typed.get("invoice_number", ""),
            "delivery_proof_base64": convert(_file, posted, "delivery_proof", "delivery_proof_base64", limit),
            "payment_proof_base64": convert(_file, posted, "payment_proof", "payment_proof_base64", limit,
                                            required=False)}, convert.errors)
        redemption.claim_reimbursement(db, actor, open_blob_store(settings), order_id, data, limit)

    return _on_order_page(request, db, actor, order_id, "claim", typed, CLAIM_LABELS, work)


@router.post("/vouchers/claims/{claim_id:int}/decide")
def decide_claim(claim_id: int, request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    programme_id = redemption.authorise_claim_decision(db, actor, claim_id)
    typed = form_fields(posted)
    return _on_programme_page(request, db, actor, programme_id, f"claim-{claim_id}", typed, DECISION_LABELS,
                              lambda: redemption.decide_claim(db, actor, claim_id,
                                                              validate_form(schemas.ClaimDecisionIn, _decision(typed))))
