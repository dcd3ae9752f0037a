"""The buyer's data-voucher payment on the exchange's contract page: the contract page's panel (the
manifest's ``contract_panel`` hook) offers, per data programme that covers the contract, the
buyer's vouchers, what they cover and what the wallet pays; the form calls the same service as the
API (``data_vouchers.pay_contract``). Refused, the contract page comes back with the form's input
and every error beside its field (``core.http.answer_form``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from qianshu.accounts.deps import SignedInActor
from qianshu.core.actor import Actor
from qianshu.core.errors import InvalidInput
from qianshu.core.forms import Typed, validate_form
from qianshu.core.http import AppSettings, DbSession, PostedForm, answer_form, form_fields, get_lang, see_other
from qianshu.core.i18n import N_, translate
from qianshu.core.l10n import format_money
from qianshu.exchange import payments
from qianshu.exchange import read_models as exchange_views
from qianshu.exchange.settings import ExchangeSettings
from qianshu.vouchers import data_vouchers, read_models, schemas, service

router = APIRouter(include_in_schema=False)
# The form's fields as the panel labels them (English message ids), keyed by the schema's names.
PAY_LABELS = {"voucher_ids": N_("Data vouchers"), "purpose": N_("Purpose"), "contract_id": N_("Exchange contract"),
              "programme_id": N_("Programme"), "amount_fen": N_("Paid from the wallet")}


PAY_BUTTON = N_("Pay {amount} from our wallet, the rest with vouchers")


def form_name(programme_id: int) -> str:
    return f"voucher-pay-{programme_id}"


@dataclass(frozen=True)
class VoucherPanel(read_models.ContractPaymentView):
    """The panel: its read model (``read_models.contract_payment``) and the partial that shows it."""

    template: str = "vouchers/_contract_panel.html"


def contract_panel(db: Session, actor: Actor, contract: Any) -> VoucherPanel | None:
    """The contract page's hook: for the buyer of a contract in force and still unpaid, the data
    programmes whose vouchers would pay part of it."""
    view = read_models.contract_payment(db, actor, contract)
    return None if view is None else VoucherPanel(view.contract, view.offers)


def _chosen(voucher_ids: list[str]) -> list[str]:
    if not voucher_ids:  # the schema's own "too short" would read "Data vouchers is invalid."
        raise InvalidInput("Choose at least one voucher.", field="voucher_ids", code="no_voucher_chosen")
    return voucher_ids


@router.get("/vouchers/programmes/{programme_id:int}/contracts/{contract_id:int}/split")
def payment_split(programme_id: int, contract_id: int, request: Request, db: DbSession, actor: SignedInActor,
                  voucher_ids: Annotated[list[int], Query(max_length=50)] = []) -> JSONResponse:  # noqa: B006 - FastAPI copies the default
    """The payment form's figures for the vouchers ticked, computed and written as the page writes
    them (``vouchers/static/vouchers.js`` shows them when the ticks change)."""
    service.require_apply(actor)
    contract = payments.authorise(db, actor, "contract.pay", contract_id=contract_id)
    figures = data_vouchers.payment_split(db, actor, programme_id, contract, voucher_ids)
    lang = get_lang(request)
    return JSONResponse({
        "voucher_fen": figures.voucher_fen, "wallet_fen": figures.wallet_fen,
        "voucher_text": format_money(figures.voucher_fen, lang), "wallet_text": format_money(figures.wallet_fen, lang),
        "button_text": translate(PAY_BUTTON, lang, amount=format_money(figures.wallet_fen, lang))})


@router.post("/vouchers/programmes/{programme_id:int}/contracts/{contract_id:int}/pay")
def pay_contract(programme_id: int, contract_id: int, request: Request, db: DbSession, actor: SignedInActor,
                 posted: PostedForm, settings: AppSettings) -> Response:
    service.require_apply(actor)
    payments.authorise(db, actor, "contract.pay", contract_id=contract_id)  # not the buyer: the error page
    typed = form_fields(posted, lists=("voucher_ids",))
    typed.setdefault("voucher_ids", [])

    def work() -> Response:
        convert = Typed()
        data = validate_form(schemas.ContractPaymentIn, {
            "contract_id": contract_id, "purpose": typed.get("purpose", ""),
            "voucher_ids": convert(_chosen, typed["voucher_ids"])}, convert.errors)
        data_vouchers.pay_contract(db, actor, programme_id, data)
        return see_other(f"/exchange/contracts/{contract_id}")

    def page(form: Any) -> tuple[str, Any]:
        return exchange_views.TEMPLATE, exchange_views.contract_page(
            db, actor, contract_id, settings.section(ExchangeSettings),
            getattr(request.app.state, "contract_panels", ()), form=form)

    return answer_form(request, db, typed, PAY_LABELS, work, page, name=form_name(programme_id))
