"""Portal pages of the accounting pack (``/finance/accounting``: a holder's data assets as the
MoF's interim provisions would book them, with its exports) and of the forced sales on default
(``/finance/sales``: what pledgee banks offer, and the buyer's button)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.core.forms import Form
from qianshu.core.http import (
    AppSettings,
    DbSession,
    PostedForm,
    Signer,
    form_fields,
    get_lang,
    render,
    see_other,
    submit_form,
)
from qianshu.core.i18n import N_
from qianshu.finance import accounting, accounting_export, read_models, sale, schemas
from qianshu.finance.accounting_api import MEDIA, parse_day
from qianshu.finance.models import COST_CATEGORIES
from qianshu.registry.settings import RegistrySettings

router = APIRouter(include_in_schema=False)

COST_LABELS = {"registration_id": N_("Data asset"), "category": N_("Category"), "amount_fen": N_("Amount (yuan)"),
               "incurred_on": N_("Date"), "note": N_("Note"), "intent": N_("Held for"),
               "useful_life_months": N_("Useful life (months)")}


@dataclass(frozen=True)
class AccountingPage(read_models.AccountingView):
    """The pack: its read model (``read_models.accounting_pack``), the cost categories, the tables'
    columns and the posted form."""

    categories: tuple[str, ...] = COST_CATEGORIES
    form: Form = field(default_factory=Form)
    columns: tuple[str, ...] = accounting_export.TABLE_COLUMNS


def _page(db: DbSession, actor: Any, as_of: date | None, form: Form | None = None) -> tuple[str, AccountingPage]:
    view = read_models.accounting_pack(db, actor, as_of)
    return "finance/accounting.html", AccountingPage(view.pack, view.may_keep, form=form or Form())


@router.get("/finance/accounting")
def accounting_page(request: Request, db: DbSession, actor: SignedInActor, as_of: str = "") -> Response:
    """The pack on a day (today by default): the disclosure tables, each asset, its costs and why it is classed so."""
    template, context = _page(db, actor, parse_day(as_of[:10]))
    return render(request, template, context)


@router.get("/finance/accounting/export.{fmt}")
def export(request: Request, fmt: str, db: DbSession, actor: SignedInActor, settings: AppSettings,
           as_of: str = "") -> Response:
    pack = read_models.accounting_pack(db, actor, parse_day(as_of[:10])).pack
    lang = get_lang(request)
    if fmt == "xlsx":
        body = accounting_export.pack_xlsx(pack, lang)
    elif fmt == "pdf":
        body = accounting_export.pack_pdf(pack, lang, settings.section(RegistrySettings).certificate_font_path)
    elif fmt == "csv":
        body = accounting_export.pack_csv(pack, lang)
    else:
        return see_other("/finance/accounting")
    name = f"data-resources-{pack.as_of.isoformat()}.{fmt}"
    return Response(body, media_type=MEDIA[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/finance/accounting/costs")
def add_cost(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    typed = form_fields(posted)
    data = {"registration_id": typed.get("registration_id", ""), "category": typed.get("category", ""),
            "amount_fen": _fen(typed.get("amount_yuan", "")), "incurred_on": typed.get("incurred_on", ""),
            "note": typed.get("note", "")}

    def added(valid: schemas.AssetCostIn) -> Response:
        accounting.add_cost(db, actor, valid)
        return see_other(f"/finance/accounting#asset-{valid.registration_id}")

    return submit_form(request, db, schemas.AssetCostIn, data, COST_LABELS, added,
                       lambda form: _page(db, actor, None, form), name="cost")


def _fen(text: Any) -> Any:
    from decimal import Decimal, InvalidOperation

    cleaned = str(text).replace(",", "").replace("，", "").strip()
    try:
        value = Decimal(cleaned) * 100
    except InvalidOperation:
        return cleaned
    return int(value) if value.is_finite() and value == value.to_integral_value() else cleaned


@router.post("/finance/accounting/costs/{cost_id:int}/remove")
def remove_cost(cost_id: int, db: DbSession, actor: SignedInActor) -> Response:
    accounting.remove_cost(db, actor, cost_id)
    return see_other("/finance/accounting")


@router.post("/finance/accounting/choices")
def set_choice(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    typed = form_fields(posted)

    def saved(valid: schemas.AccountingChoiceIn) -> Response:
        accounting.set_choice(db, actor, valid)
        return see_other(f"/finance/accounting#asset-{valid.registration_id}")

    return submit_form(request, db, schemas.AccountingChoiceIn,
                       {k: typed.get(k, "") for k in ("registration_id", "intent", "useful_life_months")},
                       COST_LABELS, saved, lambda form: _page(db, actor, None, form), name="choice")


# --- forced sales --------------------------------------------------------------------------------

@router.get("/finance/sales")
def sales(request: Request, db: DbSession, actor: CurrentActor) -> Response:
    """Pledged assets their banks offer on default; an approved organisation buys at the price or bids."""
    return render(request, "finance/sales.html", read_models.forced_sales(db, actor))


@router.post("/finance/sales/{sale_id:int}/buy")
def buy(sale_id: int, db: DbSession, actor: SignedInActor, settings: AppSettings, signer: Signer) -> Response:
    bought = sale.buy_forced_sale(db, actor, settings, signer, sale_id)
    return see_other(f"/finance/lookup?number={bought.certificate_number}")
