"""Portal pages of vouchers: the public directory and dashboard, a programme's page (apply, order,
and for its administrator the applications and claims to decide), the organisation's vouchers and
orders, and an order's page (the provider reports usage and claims reimbursement). Forms call the
same services as the API; a refused form gets the app's error page, with nothing changed."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from qianshu.accounts import service as accounts
from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.core import policy
from qianshu.core.blobs import open_blob_store
from qianshu.core.errors import InvalidInput, NotFound
from qianshu.core.forms import validate_form
from qianshu.core.http import AppSettings, DbSession, PostedForm, form_fields, get_lang, render, see_other
from qianshu.ledger.service import parse_yuan
from qianshu.vouchers import publish_pages, redemption, schemas, service, statistics
from qianshu.vouchers.models import Application, ComputeOrder, Offering, Programme, Reimbursement, Voucher
from qianshu.vouchers.permissions import programme_resource
from qianshu.vouchers.settings import VouchersSettings

router = APIRouter(include_in_schema=False)
router.include_router(publish_pages.router)  # offering and programme forms


@dataclass
class DirectoryPage:
    programmes: list[Programme]
    directory: dict[str, Any]
    may_publish: bool = False


@router.get("/vouchers")
def directory(request: Request, db: DbSession, actor: CurrentActor) -> Response:
    may = policy.allows(actor, "vouchers.offering.publish") or policy.allows(actor, "vouchers.programme.create")
    return render(request, "vouchers/directory.html",
                  DirectoryPage(service.programmes(db, actor), service.directory(db, actor), may))


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


@dataclass
class ProgrammePage:
    programme: Programme
    offerings: list[Offering]
    names: dict[int, Any]
    may_apply: bool = False
    may_manage: bool = False
    my_vouchers: list[Voucher] = field(default_factory=list)
    applications: list[Application] = field(default_factory=list)
    claims: list[Reimbursement] = field(default_factory=list)
    month: str = ""


@router.get("/vouchers/programmes/{programme_id:int}")
def programme_page(programme_id: int, request: Request, db: DbSession, actor: CurrentActor) -> Response:
    programme = service.get_programme(db, actor, programme_id)
    offers = [o for o in service.offerings(db, actor) if o.provider_org_id in programme.provider_org_ids]
    page = ProgrammePage(programme, offers, accounts.organisations_by_id(db, programme.provider_org_ids),
                         month=service.today().strftime("%Y-%m"))
    page.may_apply = policy.allows(actor, "vouchers.apply")
    page.may_manage = policy.allows(actor, "vouchers.programme.manage", programme_resource(programme.admin_org_id))
    if page.may_apply:
        page.my_vouchers = [v for v in service.vouchers_of(db, actor) if v.programme_id == programme.id]
    if page.may_manage:
        page.applications = service.applications(db, actor, programme.id)
        page.claims = redemption.claims(db, actor, programme.id)
        page.names.update(accounts.organisations_by_id(db, {a.org_id for a in page.applications}))
    return render(request, "vouchers/programme.html", page)


@router.post("/vouchers/programmes/{programme_id:int}/apply")
def apply(programme_id: int, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    service.require_apply(actor)
    form = form_fields(posted)
    data = validate_form(schemas.ApplicationIn, {
        "purpose": form.get("purpose", ""), "company_size": form.get("company_size", ""),
        "planned_use": form.get("planned_use", ""),
        "requested_fen": parse_yuan(str(form.get("requested_yuan", "")), "requested_fen")})
    service.apply(db, actor, programme_id, data)
    return see_other(f"/vouchers/programmes/{programme_id}")


@router.post("/vouchers/applications/{application_id:int}/decide")
def decide_application(application_id: int, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    service.authorise_decision(db, actor, application_id)
    form = form_fields(posted)
    data = validate_form(schemas.DecisionIn, {"approve": form.get("decision") == "approve",
                                              "reason": form.get("reason", "")})
    found = service.decide_application(db, actor, application_id, data)
    return see_other(f"/vouchers/programmes/{found.programme_id}")


@router.post("/vouchers/programmes/{programme_id:int}/order")
def place_order(programme_id: int, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    service.require_apply(actor)
    form = form_fields(posted, lists=("voucher_ids",))
    data = validate_form(schemas.OrderIn, {
        "offering_id": form.get("offering_id", ""), "card_hours": form.get("card_hours", ""),
        "month": form.get("month", ""), "term_months": form.get("term_months", "1"),
        "purpose": form.get("purpose", ""), "voucher_ids": form.get("voucher_ids", [])})
    order = redemption.place_order(db, actor, programme_id, data)
    return see_other(f"/vouchers/orders/{order.id}")


@dataclass
class MinePage:
    vouchers: list[Voucher]
    orders: list[ComputeOrder]


@router.get("/vouchers/mine")
def mine(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return render(request, "vouchers/mine.html", MinePage(service.vouchers_of(db, actor),
                                                          redemption.orders_of(db, actor)))


@dataclass
class OrderPage:
    order: ComputeOrder
    names: dict[int, Any]
    may_deliver: bool
    claim: Reimbursement | None


@router.get("/vouchers/orders/{order_id:int}")
def order_page(order_id: int, request: Request, db: DbSession, actor: SignedInActor) -> Response:
    order = redemption.get_order(db, actor, order_id)
    names = accounts.organisations_by_id(db, [order.company_org_id, order.provider_org_id])
    may = policy.allows(actor, "vouchers.order.deliver", redemption.order_resource_of(db, order))
    return render(request, "vouchers/order.html", OrderPage(order, names, may, redemption.claim_of(db, order.id)))


def _file(posted: Any, name: str, limit: int, *, required: bool = True) -> str:
    """An uploaded file as base64 (the schemas' form of a file), read on the route's worker thread."""
    upload = posted.get(name)
    if not isinstance(upload, UploadFile) or not upload.filename:
        if required:
            raise InvalidInput("{field}: choose a file.", field=name)
        return ""
    content = upload.file.read(limit + 1)
    if len(content) > limit:
        raise InvalidInput("{field}: the file is larger than {limit} bytes.", field=name, limit=limit)
    return base64.b64encode(content).decode()


@router.post("/vouchers/orders/{order_id:int}/usage")
def report_usage(order_id: int, db: DbSession, actor: SignedInActor, posted: PostedForm,
                 settings: AppSettings) -> Response:
    redemption.authorise_delivery(db, actor, order_id)
    limit = settings.section(VouchersSettings).max_evidence_bytes
    upload = posted.get("evidence")
    data = validate_form(schemas.UsageIn, {
        "used_card_hours": form_fields(posted).get("used_card_hours", ""),
        "evidence_base64": _file(posted, "evidence", limit),
        "evidence_name": getattr(upload, "filename", "") or "evidence"})
    redemption.report_usage(db, actor, open_blob_store(settings), order_id, data, limit)
    return see_other(f"/vouchers/orders/{order_id}")


@router.post("/vouchers/orders/{order_id:int}/claim")
def claim(order_id: int, db: DbSession, actor: SignedInActor, posted: PostedForm, settings: AppSettings) -> Response:
    redemption.authorise_delivery(db, actor, order_id)
    limit = settings.section(VouchersSettings).max_evidence_bytes
    data = validate_form(schemas.ClaimIn, {
        "invoice_number": form_fields(posted).get("invoice_number", ""),
        "delivery_proof_base64": _file(posted, "delivery_proof", limit),
        "payment_proof_base64": _file(posted, "payment_proof", limit, required=False)})
    redemption.claim_reimbursement(db, actor, open_blob_store(settings), order_id, data, limit)
    return see_other(f"/vouchers/orders/{order_id}")


@router.post("/vouchers/claims/{claim_id:int}/decide")
def decide_claim(claim_id: int, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    redemption.authorise_claim_decision(db, actor, claim_id)
    form = form_fields(posted)
    data = validate_form(schemas.ClaimDecisionIn, {"approve": form.get("decision") == "approve",
                                                   "reason": form.get("reason", "")})
    found = redemption.decide_claim(db, actor, claim_id, data)
    return see_other(f"/vouchers/programmes/{found.programme_id}")
