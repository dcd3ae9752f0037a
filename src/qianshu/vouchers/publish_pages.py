"""Portal forms that publish: a compute provider's offering, a voucher administrator's programme.

One page, ``/vouchers/publish``, holds both forms (each shown to whom the policy allows); each is
posted through ``core.http.submit_form`` under its name (``form.of("offering")``,
``form.of("programme")``), so a refused form comes back with the input kept and every error beside
its field, nothing saved. The services are the API's (``service.publish_offering``,
``service.create_programme``). ``pages.py`` includes this router."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qianshu.accounts.deps import SignedInActor
from qianshu.core.forms import Form
from qianshu.core.http import DbSession, PostedForm, form_fields, render, see_other, submit_form
from qianshu.core.i18n import N_
from qianshu.vouchers import read_models, schemas, service
from qianshu.vouchers.models import COMPANY_SIZES, PROGRAMME_KINDS, PURPOSES, SERVICE_KINDS

router = APIRouter(include_in_schema=False)

PRECISIONS = ("FP64", "FP32", "TF32", "FP16", "BF16", "FP8", "INT8")
OFFERING_LABELS = {
    "data_centre": N_("Data centre"), "division_code": N_("Region (division code)"),
    "accelerator": N_("Accelerator"), "card_count": N_("Cards"), "card_hours_per_month": N_("Card-hours a month"),
    "price_fen_per_card_hour": N_("Price per card-hour (yuan)"), "service_kind": N_("Service"),
    "declared_tflops": N_("Declared computing power (TFLOPS)"), "precision": N_("Precision")}
PROGRAMME_LABELS = {
    "name_zh": N_("Name (Chinese)"), "name_en": N_("Name (English)"), "kind": N_("Kind"),
    "budget_fen": N_("Budget (yuan)"), "starts_on": N_("Starts on"), "ends_on": N_("Ends on"),
    "eligible_division": N_("Companies registered in (division code)"), "eligible_sizes": N_("Company sizes"),
    "eligible_purposes": N_("Purposes"), "ratio_bp": N_("Share of a bill vouchers may pay (%)"),
    "cap_company_year_fen": N_("Cap per company per year (yuan)"), "cap_contract_fen": N_("Cap per contract (yuan)"),
    "face_values_fen": N_("Face values (yuan, comma-separated)"), "voucher_valid_days": N_("Vouchers valid for (days)"),
    "max_term_months": N_("Longest contract term (months)"),
    "one_voucher_per_contract": N_("One voucher per contract"),
    "require_payment_proof": N_("Require proof of the company's payment before reimbursement"),
    "provider_org_ids": N_("Participating providers")}
LISTS = ("eligible_sizes", "eligible_purposes", "provider_org_ids")


@dataclass(frozen=True)
class PublishPage(read_models.PublishView):
    """The publish page: its read model (``read_models.publish_view``), the choices and the posted form."""

    form: Form = field(default_factory=Form)
    service_kinds: tuple[str, ...] = SERVICE_KINDS
    precisions: tuple[str, ...] = PRECISIONS
    kinds: tuple[str, ...] = PROGRAMME_KINDS
    sizes: tuple[str, ...] = COMPANY_SIZES
    purposes: tuple[str, ...] = PURPOSES


def _page(db: Any, actor: Any, form: Form | None = None) -> PublishPage:
    view = read_models.publish_view(db, actor)
    return PublishPage(view.may, view.compute_providers, view.data_sellers, form or Form())


@router.get("/vouchers/publish", response_class=HTMLResponse)
def publish_page(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return render(request, "vouchers/publish.html", _page(db, actor))


@router.post("/vouchers/offerings", response_class=HTMLResponse)
def publish_offering(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    service.require_publish(actor)  # refused before what was typed is read, as a programme's form is
    data = form_fields(posted)

    def work(offering: schemas.OfferingForm) -> Response:
        service.publish_offering(db, actor, offering)
        return see_other("/vouchers")

    return submit_form(request, db, schemas.OfferingForm, data, OFFERING_LABELS, work,
                       lambda form: ("vouchers/publish.html", _page(db, actor, form)), name="offering")


@router.post("/vouchers/programmes", response_class=HTMLResponse)
def create_programme(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    service.require_create(actor)
    data = form_fields(posted, lists=LISTS)
    for name in LISTS:
        data.setdefault(name, [])  # nothing ticked is "required", not the API's defaults
    for name in ("one_voucher_per_contract", "require_payment_proof"):
        data[name] = data.get(name) == "on"

    def work(programme: schemas.ProgrammeForm) -> Response:
        return see_other(f"/vouchers/programmes/{service.create_programme(db, actor, programme).id}")

    return submit_form(request, db, schemas.ProgrammeForm, data, PROGRAMME_LABELS, work,
                       lambda form: ("vouchers/publish.html", _page(db, actor, form)), name="programme")
