"""Portal pages of finance: the lookup of a certificate's standing (linked from the registry's
verification page through the ``certificate_verified`` slot), the bank's portfolio, and the
forms that register, confirm, amend, release or enforce a pledge. A refused form rolls back and
shows its page again with what was typed and every error beside its field
(``core.http.answer_form``); the pledges' forms are on their certificate's lookup page."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, QianshuError
from qianshu.core.forms import Form, Typed, validate_form
from qianshu.core.http import (
    AppSettings,
    DbSession,
    PostedForm,
    Signer,
    answer_form,
    form_fields,
    get_lang,
    render,
    see_other,
    show_form_errors,
    submit_form,
)
from qianshu.core.i18n import N_
from qianshu.core.read_models import extend
from qianshu.finance import accounting_pages, read_models, sale, sale_pages, schemas, service, valuation
from qianshu.finance.models import Pledge
from qianshu.finance.sale_pages import hundredths as _hundredths

router = APIRouter(include_in_schema=False)
router.include_router(accounting_pages.router)  # the accounting pack and the forced sales
router.include_router(sale_pages.router)  # a forced sale's page and its bids
MAX_NUMBER_CHARS = 40


@dataclass(frozen=True)
class CertificatePanel:
    """Finance's section of the registry's certificate page (the manifest's ``certificate_panel``),
    where the certificate's QR code leads: its standing and whether its asset is encumbered."""

    found: service.Standing
    template: str = "finance/_certificate_panel.html"


def certificate_panel(db: Session, actor: Actor, certificate: Any) -> CertificatePanel | None:
    """The certificate page's hook: the lookup's answer for the certificate's number."""
    try:
        return CertificatePanel(service.standing(db, actor, certificate.number))
    except QianshuError:  # a number the lookup refuses: the certificate page shows without the panel
        return None
# The pledge forms' fields as the lookup page labels them (English message ids), by the schemas' names.
PLEDGE_LABELS = {
    "certificate_number": N_("Certificate number"), "secured_fen": N_("Secured amount"),
    "appraised_fen": N_("Appraised value"), "interest_bp": N_("Interest"), "term_months": N_("Term (months)"),
    "risk_pool_bp": N_("Risk-pool share"), "external_registry": N_("External registry"),
    "external_number": N_("External registration number"), "reason": N_("Reason"), "mode": N_("Enforce by"),
    "price_fen": N_("Sale price"), "closes_in_days": N_("Bidding closes in (days)"),
    "step_fen": N_("Minimum step between bids"),
}


@dataclass(frozen=True)
class LookupPage(read_models.LookupView):
    """The lookup: its read model (``read_models.certificate_lookup``), what was typed, and the
    posted form refused: "pledge", or "{action}-{pledge id}"."""

    number: str = ""
    error: str = ""
    form: Form = field(default_factory=Form)


def _lookup_page(db: DbSession, actor: Actor, number: str, form: Form | None = None) -> tuple[str, Any]:
    view = read_models.certificate_lookup(db, actor, number)
    return "finance/lookup.html", extend(LookupPage, view, number=number,
                                             form=form or Form())


@router.get("/finance/lookup")
def lookup(request: Request, db: DbSession, actor: CurrentActor, number: str = "") -> Response:
    """Type a number (or follow the link from the verification page): valid, revoked, encumbered."""
    number = number.strip()[:MAX_NUMBER_CHARS]
    if not number:
        return render(request, "finance/lookup.html", LookupPage())
    try:
        return render(request, *_lookup_page(db, actor, number))
    except QianshuError as exc:
        return render(request, "finance/lookup.html", LookupPage(number=number, error=exc.render(get_lang(request))),
                      status_code=exc.status)


LIMIT_LABELS = {"category": N_("Product category"), "limit_bp": N_("Loan-to-value limit (%)")}


@dataclass(frozen=True)
class PortfolioPage(read_models.PortfolioView):
    """The bank's portfolio (``read_models.portfolio``) and its form setting a loan-to-value limit."""

    form: Form = field(default_factory=Form)


def _portfolio_page(db: DbSession, actor: Actor, settings: AppSettings,
                    form: Form | None = None) -> tuple[str, PortfolioPage]:
    return "finance/portfolio.html", extend(PortfolioPage, read_models.portfolio(db, actor, settings),
                                            form=form or Form())


@router.get("/finance/pledges")
def portfolio(request: Request, db: DbSession, actor: SignedInActor, settings: AppSettings) -> Response:
    return render(request, *_portfolio_page(db, actor, settings))


@router.post("/finance/ltv-limits")
def set_ltv_limit(request: Request, db: DbSession, actor: SignedInActor, settings: AppSettings,
                  posted: PostedForm) -> Response:
    """The bank's limit for a product category (or its default), in percent as people type it:
    the API's service (``finance.ltv.set``: the bank's administrators; audited)."""
    typed = form_fields(posted)

    def work() -> Response:
        convert = Typed()
        data = validate_form(schemas.LtvLimitIn, {
            "category": str(typed.get("category", "")).strip(),
            "limit_bp": convert(_hundredths, typed, "limit_percent", "limit_bp")}, convert.errors)
        service.set_ltv_limit(db, actor, data)
        return see_other("/finance/pledges#limits")

    return answer_form(request, db, typed, LIMIT_LABELS, work,
                       lambda form: _portfolio_page(db, actor, settings, form), name="limit")


@router.post("/finance/pledges")
def register_pledge(request: Request, db: DbSession, actor: SignedInActor, settings: AppSettings, signer: Signer,
                    posted: PostedForm) -> Response:
    """The bank's form on the lookup page: amounts in yuan and rates in percent, as people type them."""
    typed = form_fields(posted)
    number = str(typed.get("certificate_number", "")).strip()[:MAX_NUMBER_CHARS]

    def work() -> Response:
        convert = Typed()
        data = validate_form(schemas.PledgeIn, {
            "certificate_number": number, "pledgor_org_id": typed.get("pledgor_org_id", ""),
            "secured_fen": convert(_hundredths, typed, "secured_yuan", "secured_fen"),
            "appraised_fen": convert(_hundredths, typed, "appraised_yuan", "appraised_fen", optional=True),
            "interest_bp": convert(_hundredths, typed, "interest_percent", "interest_bp"),
            "term_months": typed.get("term_months", ""),
            "risk_pool_bp": convert(_hundredths, typed, "risk_pool_percent", "risk_pool_bp", optional=True),
            "external_registry": typed.get("external_registry", ""),
            "external_number": typed.get("external_number", "")}, convert.errors)
        pledge = service.create_pledge(db, actor, settings, signer, data)
        return see_other(f"/finance/lookup?number={pledge.certificate_number}")

    return answer_form(request, db, typed, PLEDGE_LABELS, work, lambda form: _lookup_page(db, actor, number, form),
                       name="pledge")


def _pledge_action(db: DbSession, actor: Actor, settings: AppSettings, signer: Signer, pledge_id: int, action: str,
                   fields: dict[str, Any]) -> Pledge:
    reason = str(fields.get("reason", ""))
    if action == "confirm":
        return service.confirm_pledge(db, actor, signer, pledge_id)
    if action == "release":
        return service.release_pledge(db, actor, signer, pledge_id, validate_form(schemas.CloseIn, fields).reason)
    if action == "propose":  # an amendment, as typed (yuan, percent, months); the other party agrees
        convert = Typed()
        data = validate_form(schemas.AmendIn, {
            "secured_fen": convert(_hundredths, fields, "secured_yuan", "secured_fen", optional=True),
            "interest_bp": convert(_hundredths, fields, "interest_percent", "interest_bp", optional=True),
            "term_months": str(fields.get("term_months", "")).strip() or None, "reason": reason}, convert.errors)
        return service.propose_amendment(db, actor, pledge_id, data)
    if action in ("agree", "decline"):
        return service.decide_amendment(db, actor, settings, signer, pledge_id, action == "agree")
    if action == "withdraw":  # the pledge's forced sale on offer, before anyone buys
        offered = sale.listed_sale_of(db, pledge_id)
        if offered is None:
            raise Conflict("The pledge has no forced sale on offer.", field="status", code="sale_closed")
        sale.withdraw_forced_sale(db, actor, signer, offered.id, validate_form(schemas.CloseIn, fields).reason)
        return db.get_one(Pledge, pledge_id)
    enforcing = validate_form(schemas.EnforceIn, {"reason": reason, "mode": fields.get("mode") or "record"})
    if enforcing.mode == "sale":  # a forced sale at the price typed (yuan); by auction with a closing
        convert = Typed()
        price = convert(_hundredths, fields, "price_yuan", "price_fen", optional=True)
        step = convert(_hundredths, fields, "step_yuan", "step_fen", optional=True)
        days = str(fields.get("closes_in_days", "")).strip() or None
        offer = validate_form(schemas.EnforceIn, {"reason": reason, "mode": "sale", "price_fen": price,
                                                  "closes_in_days": days, "step_fen": step}, convert.errors)
        sale.list_forced_sale(db, actor, signer, pledge_id, offer.price_fen, enforcing.reason, offer.closes_in_days,
                              offer.step_fen)
        return db.get_one(Pledge, pledge_id)
    return service.enforce_pledge(db, actor, signer, pledge_id, enforcing.reason, enforcing.mode)


PLEDGE_ACTIONS = ("confirm", "release", "propose", "agree", "decline", "enforce", "withdraw")


@router.post("/finance/pledges/{pledge_id:int}/{action}")
def act(pledge_id: int, action: str, request: Request, db: DbSession, actor: SignedInActor, settings: AppSettings,
        signer: Signer, posted: PostedForm) -> Response:
    if action not in PLEDGE_ACTIONS:
        return see_other("/finance/lookup")
    number = service.certificate_of_pledge(db, actor, pledge_id)
    typed = form_fields(posted)

    def work() -> Response:
        _pledge_action(db, actor, settings, signer, pledge_id, action, typed)
        return see_other(f"/finance/lookup?number={number}")

    return answer_form(request, db, typed, PLEDGE_LABELS, work, lambda form: _lookup_page(db, actor, number, form),
                       name=f"{action}-{pledge_id}")


# --- valuations --------------------------------------------------------------------------------

# The worksheet's fields as the page labels them (English message ids).
VALUATION_LABELS = {
    "certificate_number": N_("Certificate number"),
    "acquisition_fen": N_("Acquisition cost (yuan)"), "processing_fen": N_("Processing cost (yuan)"),
    "storage_fen": N_("Storage cost (yuan)"), "labour_fen": N_("Labour cost (yuan)"),
    "rights_fen": N_("Rights confirmation cost (yuan)"), "quality_fen": N_("Quality assessment cost (yuan)"),
    "quality_factor_bp": N_("Quality adjustment factor"), "obsolescence_bp": N_("Obsolescence (%)"),
    "incomes_fen": N_("Forecast income per year (yuan, comma-separated)"),
    "share_bp": N_("Share of income attributable to the data (%)"), "discount_bp": N_("Discount rate (%)"),
    "life_years": N_("Economic life (years)"), "scale_bp": N_("Scale factor"),
    "market_quality_bp": N_("Quality factor (market)"), "timeliness_bp": N_("Timeliness factor"),
    "supply_demand_bp": N_("Supply and demand factor"), "rights_bp": N_("Rights and scope factor"),
    "licences_per_year": N_("Licences expected per year"), "method": N_("Approach concluded on"), "notes": N_("Notes"),
}
YUAN_FIELDS = ("acquisition_fen", "processing_fen", "storage_fen", "labour_fen", "rights_fen", "quality_fen")
PERCENT_FIELDS = ("obsolescence_bp", "share_bp", "discount_bp")
FACTOR_FIELDS = ("quality_factor_bp", "scale_bp", "market_quality_bp", "timeliness_bp", "supply_demand_bp", "rights_bp")
COUNT_FIELDS = ("life_years", "licences_per_year")


def _scaled(text: Any, scale: int) -> Any:
    """A number as typed (``12,000.50``, ``8``, ``0.95``) times ``scale`` as an integer; what is
    not such a number is passed on as typed, for the schema to refuse by name."""
    cleaned = str(text).replace(",", "").replace("，", "").strip()
    try:
        value = Decimal(cleaned) * scale
    except InvalidOperation:
        return cleaned
    return int(value) if value.is_finite() and value == value.to_integral_value() else cleaned


def valuation_form_data(form: dict[str, Any]) -> dict[str, Any]:
    """The worksheet as typed (yuan, percent, factors) → the schema's fen and basis points. An
    empty field is left out, so that it is reported as missing."""
    data: dict[str, Any] = {}
    for name, scale in ([(f, 100) for f in YUAN_FIELDS] + [(f, 100) for f in PERCENT_FIELDS]
                        + [(f, 10_000) for f in FACTOR_FIELDS] + [(f, 1) for f in COUNT_FIELDS]):
        if str(form.get(name, "")).strip():
            data[name] = _scaled(form[name], scale)
    incomes = str(form.get("incomes_fen", "")).replace("，", ",").replace("、", ",")
    parts = [p for p in (x.strip() for x in incomes.replace(";", ",").split(",")) if p]
    if parts:
        data["incomes_fen"] = [_scaled(p, 100) for p in parts]
    data["method"] = form.get("method", "cost")
    data["notes"] = str(form.get("notes", ""))
    return data


def worksheet_values(inputs: dict[str, Any]) -> dict[str, Any]:
    """The stored figures back in the units the page shows."""
    if not inputs:
        return {}
    shown: dict[str, Any] = {k: inputs.get(k, "") for k in ("method", "notes", *COUNT_FIELDS)}
    for name in YUAN_FIELDS + PERCENT_FIELDS:
        shown[name] = f"{Decimal(inputs[name]) / 100:f}"
    for name in FACTOR_FIELDS:  # a worksheet of before the supply and demand factor: 1
        shown[name] = f"{Decimal(inputs.get(name, 10_000)) / 10_000:f}"
    shown["incomes_fen"] = ", ".join(f"{Decimal(v) / 100:f}" for v in inputs.get("incomes_fen", []))
    return shown


@dataclass(frozen=True)
class ValuationsPage(read_models.ValuationsView):
    """The appraiser's worksheets: its read model (``read_models.valuations``) and the start form."""

    form: Form = field(default_factory=Form)


def _valuations_page(db: DbSession, actor: Actor, form: Form | None = None) -> ValuationsPage:
    view = read_models.valuations(db, actor)
    return ValuationsPage(view.valuations, view.may_start, form or Form())


@dataclass(frozen=True)
class WorksheetPage(read_models.WorksheetView):
    """The worksheet: its read model (``read_models.worksheet``), the form (the stored figures in
    the page's units, or what was typed and refused) and the fields' labels."""

    form: Form = field(default_factory=Form)
    labels: dict[str, str] = field(default_factory=lambda: VALUATION_LABELS)


@router.get("/finance/valuations")
def valuations(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    return render(request, "finance/valuations.html", _valuations_page(db, actor))


@router.post("/finance/valuations")
def start_valuation(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    def started(data: schemas.ValuationStart) -> Response:
        return see_other(f"/finance/valuations/{valuation.start_valuation(db, actor, data).id}")

    return submit_form(request, db, schemas.ValuationStart, form_fields(posted), VALUATION_LABELS, started,
                       lambda form: ("finance/valuations.html", _valuations_page(db, actor, form)))


def _worksheet_page(db: DbSession, actor: Actor, valuation_id: int, form: Form | None = None) -> WorksheetPage:
    view = read_models.worksheet(db, actor, valuation_id)
    return WorksheetPage(view.valuation, view.may_edit, view.verified,
                         form or Form(worksheet_values(view.valuation.inputs)))


@router.get("/finance/valuations/{valuation_id:int}")
def worksheet(request: Request, valuation_id: int, db: DbSession, actor: CurrentActor) -> Response:
    """The worksheet: the information attributes, every figure and every step of each approach."""
    return render(request, "finance/worksheet.html", _worksheet_page(db, actor, valuation_id))


@router.post("/finance/valuations/{valuation_id:int}")
def save_worksheet(request: Request, valuation_id: int, db: DbSession, actor: SignedInActor,
                   settings: AppSettings, posted: PostedForm) -> Response:
    """Recomputed on the server on every change (the page's small script posts as one types; without
    it, the Recompute button does)."""
    typed = form_fields(posted)

    def saved(data: schemas.ValuationIn) -> Response:
        valuation.update_valuation(db, actor, settings, valuation_id, data)
        return see_other(f"/finance/valuations/{valuation_id}#results")

    valuation.editable(db, actor, valuation_id)  # who may change it, before what was typed
    try:
        data = validate_form(schemas.ValuationIn, valuation_form_data(typed))
        return saved(data)
    except QianshuError as exc:
        db.rollback()
        return show_form_errors(request, exc, typed, VALUATION_LABELS,
                                lambda form: ("finance/worksheet.html", _worksheet_page(db, actor, valuation_id, form)))


@router.post("/finance/valuations/{valuation_id:int}/sign")
def sign_valuation(valuation_id: int, db: DbSession, actor: SignedInActor, settings: AppSettings,
                   signer: Signer) -> Response:
    valuation.sign_valuation(db, actor, settings, signer, valuation_id)
    return see_other(f"/finance/valuations/{valuation_id}")
