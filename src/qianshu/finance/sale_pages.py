"""Portal page of one forced sale (``/finance/sales/{id}``): the offer, its auction's bids and the
bid form (amount in yuan; a refusal is shown beside the field, in the reader's language). The page
closes an auction past its closing time on read, so it reads in a write transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.core.actor import Actor
from qianshu.core.errors import InvalidInput
from qianshu.core.forms import Form, Typed, validate_form
from qianshu.core.http import (
    AppSettings,
    DbSession,
    PostedForm,
    Signer,
    WriteDbSession,
    answer_form,
    form_fields,
    render,
    see_other,
)
from qianshu.core.i18n import N_
from qianshu.core.settings import Settings
from qianshu.core.signing import Ed25519Signer
from qianshu.exchange import service as exchange
from qianshu.finance import auction, read_models, sale, schemas

router = APIRouter(include_in_schema=False)
BID_LABELS = {"amount_fen": N_("Your bid (yuan)"), "sale_id": N_("Forced sale")}


def hundredths(form: dict[str, Any], name: str, field: str, *, optional: bool = False) -> int | None:
    """Yuan or percent as typed (``12,000,000.50``, ``3.8``) → fen or basis points."""
    text = str(form.get(name, "")).replace(",", "").replace("，", "").strip()
    if not text and optional:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidInput("{field}: give a number.", field=field) from None
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        raise InvalidInput("{field}: give a number with at most two decimals.", field=field)
    return int(value * 100)


@dataclass(frozen=True)
class SalePage:
    """The sale's read model (``read_models.forced_sale``) and the refused bid form, if any."""

    view: read_models.SaleView
    form: Form = field(default_factory=Form)


def _page(db: Any, actor: Actor, settings: Settings, signer: Ed25519Signer, sale_id: int,
          form: Form | None = None) -> tuple[str, SalePage]:
    return "finance/sale.html", SalePage(read_models.forced_sale(db, actor, settings, signer, sale_id),
                                         form or Form())


@dataclass(frozen=True)
class ProductPanel:
    """The product page's section while the product's asset is on forced sale (``product_panel``)."""

    sale: Any
    template: str = "finance/_product_panel.html"


def product_panel(db: Session, actor: Actor, listing: Any) -> ProductPanel | None:
    """The catalogue's product-page hook: the asset's forced sale on offer, if any."""
    offered = sale.sale_on_offer(db, listing.registration_id)
    return None if offered is None else ProductPanel(offered)


@dataclass(frozen=True)
class ContractPanel:
    """The exchange's contract page's section for the contract a forced sale became (``contract_panel``)."""

    sale: Any
    template: str = "finance/_contract_panel.html"


def contract_panel(db: Session, actor: Actor, contract: Any) -> ContractPanel | None:
    """The contract page's hook: the forced sale the contract records, linked (the page is the
    parties'; the sale and its split are public)."""
    found = sale.sale_of_contract(db, contract.id) if exchange.is_asset_transfer(contract) else None
    return None if found is None else ContractPanel(found)


@router.get("/finance/sales/{sale_id:int}")
def sale_page(sale_id: int, request: Request, db: WriteDbSession, actor: CurrentActor, settings: AppSettings,
              signer: Signer) -> Response:
    """The offer and its bids; an auction past its closing time is closed first."""
    return render(request, *_page(db, actor, settings, signer, sale_id))


@router.post("/finance/sales/{sale_id:int}/bid")
def place_bid(sale_id: int, request: Request, db: DbSession, actor: SignedInActor, settings: AppSettings,
              signer: Signer, posted: PostedForm) -> Response:
    typed = form_fields(posted)

    def work() -> Response:
        convert = Typed()
        data = validate_form(schemas.BidIn, {"amount_fen": convert(hundredths, typed, "amount_yuan", "amount_fen")},
                             convert.errors)
        auction.place_bid(db, actor, signer, sale_id, data.amount_fen)
        return see_other(f"/finance/sales/{sale_id}#bids")

    return answer_form(request, db, typed, BID_LABELS, work,
                       lambda form: _page(db, actor, settings, signer, sale_id, form), name="bid")
