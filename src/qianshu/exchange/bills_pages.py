"""The usage bills page of metered contracts (``/exchange/bills``) and its CSV: an organisation's
bills as buyer and as seller; an operator may see every organisation's (``?every=1``)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qianshu.accounts.deps import SignedInActor
from qianshu.core.http import DbSession, get_lang, render
from qianshu.exchange import bills

router = APIRouter(include_in_schema=False)
STATUSES = ("paid", "short", "retrying")


@dataclass
class BillsPage:
    rows: list[bills.BillRow]
    every: bool  # an operator's view of every organisation's bills
    can_see_every: bool
    status: str
    query: str  # the filters, for the CSV link
    statuses: tuple[str, ...] = STATUSES


def _filters(status: str) -> str:
    return status if status in STATUSES else ""


def _query(every: bool, status: str) -> str:
    parts = (["every=1"] if every else []) + ([f"status={status}"] if status else [])
    return "?" + "&".join(parts) if parts else ""


@router.get("/exchange/bills", response_class=HTMLResponse)
def bills_page(request: Request, db: DbSession, actor: SignedInActor, every: int = 0, status: str = "") -> Response:
    rows = bills.list_bills(db, actor, every=bool(every), status=_filters(status))
    return render(request, "exchange/bills.html",
                  BillsPage(rows, bool(every), bills.sees_every_bill(actor), _filters(status),
                            _query(bool(every), _filters(status))))


@router.get("/exchange/bills.csv")
def bills_csv(request: Request, db: DbSession, actor: SignedInActor, every: int = 0, status: str = "") -> Response:
    rows = bills.list_bills(db, actor, every=bool(every), status=_filters(status))
    return Response(bills.to_csv(rows, get_lang(request)), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="qianshu-usage-bills.csv"'})
