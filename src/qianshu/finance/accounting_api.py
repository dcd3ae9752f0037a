"""REST routes of the accounting pack and the forced sale, under /api/v1/finance (included by api.py)."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.core.errors import InvalidInput
from qianshu.core.http import AppSettings, DbSession, Lang, Signer, WriteDbSession
from qianshu.core.openapi import problems
from qianshu.finance import accounting, accounting_export, auction, read_models, sale, schemas
from qianshu.registry.settings import RegistrySettings

router = APIRouter(prefix="/api/v1/finance", tags=["finance"])  # included by api.py
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA = {"xlsx": XLSX, "pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}


def parse_day(text: str) -> date | None:
    """``YYYY-MM-DD`` (empty: today); anything else is refused naming ``as_of``."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("{field}: give a date as YYYY-MM-DD.", field="as_of") from None


def pack_json(pack: accounting.Pack) -> dict[str, Any]:
    def asset(a: accounting.AssetPack) -> dict[str, Any]:
        out = dataclasses.asdict(a)
        out["ready_on"] = a.ready_on.isoformat()
        out["costs"] = [dict(dataclasses.asdict(c), on=c.on.isoformat()) for c in a.costs]
        out["restrictions"] = [dict(r, matures_on=r["matures_on"].isoformat()) for r in a.restrictions]
        out["reasons"] = [{"message": m, "params": p} for m, p in a.reasons]
        return out

    return {"org_id": pack.org_id, "org_name": pack.org_name, "uscc": pack.uscc, "as_of": pack.as_of.isoformat(),
            "intangible": pack.table("intangible"), "inventory": pack.table("inventory"),
            "assets": [asset(a) for a in pack.assets]}


@router.get("/accounting", summary="The accounting pack of one's data assets (JSON, XLSX, PDF or CSV)",
            responses=problems(401, 403, 422))
def accounting_pack(db: DbSession, actor: SignedInActor, lang: Lang, settings: AppSettings,
                    as_of: Annotated[str, Query(max_length=10)] = "",
                    format: Annotated[Literal["json", "xlsx", "pdf", "csv"], Query()] = "json") -> Any:
    """Costs (entered and from the ledger), the proposed classification with its reasons, and the
    disclosure items, on ``as_of`` (today by default). Money in fen in JSON, yuan in the files."""
    pack = accounting.pack(db, actor, parse_day(as_of))
    if format == "json":
        return pack_json(pack)
    body = (accounting_export.pack_xlsx(pack, lang) if format == "xlsx" else accounting_export.pack_csv(pack, lang)
            if format == "csv" else accounting_export.pack_pdf(
                pack, lang, settings.section(RegistrySettings).certificate_font_path))
    name = f"data-resources-{pack.as_of.isoformat()}.{format}"
    return Response(body, media_type=MEDIA[format], headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/accounting/costs", status_code=201, summary="Enter a cost of one's data asset",
             responses=problems(401, 403, 404, 409, 422))
def add_cost(data: schemas.AssetCostIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    cost = accounting.add_cost(db, actor, data)
    return {"id": cost.id, "registration_id": cost.registration_id, "category": cost.category,
            "amount_fen": cost.amount_fen, "incurred_on": cost.incurred_on.isoformat(), "note": cost.note}


@router.delete("/accounting/costs/{cost_id}", status_code=204, summary="Remove an entered cost",
               responses=problems(401, 403, 404))
def remove_cost(cost_id: int, db: DbSession, actor: SignedInActor) -> Response:
    accounting.remove_cost(db, actor, cost_id)
    return Response(status_code=204)


@router.put("/accounting/choices", summary="Say how an asset is held (own use or for sale) and its useful life",
            responses=problems(401, 403, 404, 409, 422))
def set_choice(data: schemas.AccountingChoiceIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    choice = accounting.set_choice(db, actor, data)
    return {"registration_id": choice.registration_id, "intent": choice.intent,
            "useful_life_months": choice.useful_life_months}


@router.get("/forced-sales", summary="Pledged assets offered in a forced sale on default")
def forced_sales(db: DbSession, actor: CurrentActor) -> list[dict[str, Any]]:
    return [sale.sale_json(s) for s in sale.open_sales(db, actor)]


@router.post("/forced-sales/{sale_id}/buy", summary="Buy an asset in a forced sale (pays the price from the wallet)",
             responses=problems(401, 403, 404, 409, 422))
def buy(sale_id: int, db: DbSession, actor: SignedInActor, settings: AppSettings, signer: Signer) -> dict[str, Any]:
    """The fee goes to the exchange, the bank is paid up to the debt, the holder gets the rest, and
    the rights pass to the buyer through the registry's transfer."""
    return sale.sale_json(sale.buy_forced_sale(db, actor, settings, signer, sale_id))


@router.get("/forced-sales/{sale_id}", summary="A forced sale and its bids (an auction past its closing closes now)",
            responses=problems(404))
def forced_sale(sale_id: int, db: WriteDbSession, actor: CurrentActor, settings: AppSettings,
                signer: Signer) -> dict[str, Any]:
    view = read_models.forced_sale(db, actor, settings, signer, sale_id)
    return dict(sale.sale_json(view.sale), bids=[auction.bid_json(b) for b in view.bids],
                minimum_bid_fen=view.minimum_fen)


@router.post("/forced-sales/{sale_id}/bids", status_code=201, summary="Bid in a forced sale's auction "
             "(the amount waits in escrow while it leads)", responses=problems(401, 403, 404, 409, 422))
def bid(sale_id: int, data: schemas.BidIn, db: DbSession, actor: SignedInActor, signer: Signer) -> dict[str, Any]:
    """At least the reserve, then the best bid plus the step (409 ``bid_too_low``); the previous
    best bidder's money goes back to its wallet in the same transaction."""
    return auction.bid_json(auction.place_bid(db, actor, signer, sale_id, data.amount_fen))


@router.post("/forced-sales/{sale_id}/withdraw", summary="Withdraw a forced sale before anyone buys (the pledgee)",
             responses=problems(401, 403, 404, 409, 422))
def withdraw(sale_id: int, data: schemas.CloseIn, db: DbSession, actor: SignedInActor,
             signer: Signer) -> dict[str, Any]:
    """The offer leaves the exchange and the pledge is ``active`` again; a sale already bought or
    withdrawn is a 409 (``sale_closed``)."""
    return sale.sale_json(sale.withdraw_forced_sale(db, actor, signer, sale_id, data.reason))
