"""Portal pages of the ledger: an organisation's wallet and statement; the operators' books
(record a deposit or withdrawal, trial balance for a chosen day, fees per month).

A deposit or withdrawal form carries an idempotency key made when the form was shown, so a form
sent twice (a double click, a reload after a lost answer) books the money once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from qianshu.accounts.deps import SignedInActor
from qianshu.core import idempotency
from qianshu.core.actor import Actor
from qianshu.core.errors import InvalidInput, NotFound, QianshuError
from qianshu.core.http import AppSettings, DbSession, PostedForm, form_fields, get_lang, render, see_other
from qianshu.core.read_models import extend
from qianshu.core.settings import Settings
from qianshu.ledger import books, read_models, service
from qianshu.ledger.settings import LedgerSettings

router = APIRouter(include_in_schema=False)


@dataclass
class WalletPage:
    statement: books.Statement
    org_id: int
    filters: dict[str, str]
    error: str = ""


def _wallet(request: Request, db: Session, actor: Actor, settings: Settings, org_id: int, kind: str,
            date_from: str, date_to: str) -> Response:
    lang = get_lang(request)
    filters = {"kind": kind, "date_from": date_from, "date_to": date_to}
    limit = settings.section(LedgerSettings).statement_max_rows
    try:
        statement = books.wallet_statement(db, actor, org_id, lang, kind=kind,
                                           date_from=books.parse_day(date_from, "date_from"),
                                           date_to=books.parse_day(date_to, "date_to"), limit=limit)
    except QianshuError as exc:
        if exc.status != 422:
            raise
        statement = books.wallet_statement(db, actor, org_id, lang, limit=limit)
        return render(request, "ledger/wallet.html", WalletPage(statement, org_id, filters, exc.render(lang)),
                      status_code=422)
    return render(request, "ledger/wallet.html", WalletPage(statement, org_id, filters))


@router.get("/wallet", response_class=HTMLResponse)
def my_wallet(request: Request, db: DbSession, actor: SignedInActor, settings: AppSettings, kind: str = "",
              date_from: str = "", date_to: str = "") -> Response:
    """The signed-in user's organisation's wallet."""
    return _wallet(request, db, actor, settings, actor.org_id or 0, kind[:30], date_from[:10], date_to[:10])


@router.get("/wallet/{org_id:int}", response_class=HTMLResponse)
def org_wallet(org_id: int, request: Request, db: DbSession, actor: SignedInActor, settings: AppSettings,
               kind: str = "", date_from: str = "", date_to: str = "") -> Response:
    """Any organisation's wallet, for the exchange's operators and auditors."""
    return _wallet(request, db, actor, settings, org_id, kind[:30], date_from[:10], date_to[:10])


@dataclass(frozen=True)
class BooksPage(read_models.BooksView):
    """The books: its read model (``read_models.operators_books``), the key of the forms shown, and
    a deposit or withdrawal refused (what was typed, the error) or recorded (``done``)."""

    form_key: str = ""
    form: dict[str, str] = field(default_factory=dict)
    error: str = ""
    done: str = ""


def _books(request: Request, db: Session, actor: Actor, day: str = "", *, form: dict[str, str] | None = None,
           error: str = "", done: str = "", status_code: int = 200) -> Response:
    lang = get_lang(request)
    try:
        as_of = books.parse_day(day[:10], "date") or books.today()
    except QianshuError as exc:
        as_of, error, status_code = books.today(), exc.render(lang), 422
    view = read_models.operators_books(db, actor, as_of, lang)
    return render(request, "ledger/books.html", extend(
        BooksPage, view, form_key=uuid.uuid4().hex, form=form or {},
        error=error, done=done), status_code=status_code)


@router.get("/operator/books", response_class=HTMLResponse)
def books_page(request: Request, db: DbSession, actor: SignedInActor, date: str = "", done: str = "") -> Response:
    """The trial balance and fees (operators and auditors); an operator records bank transfers here."""
    return _books(request, db, actor, date, done=done[:20])


@router.post("/operator/books/{movement}", response_class=HTMLResponse)
def record_movement(movement: str, request: Request, db: DbSession, actor: SignedInActor, settings: AppSettings,
                    posted: PostedForm) -> Response:
    """Record a deposit or a withdrawal typed in yuan; once per form shown (its idempotency key)."""
    if movement not in ("deposit", "withdrawal"):
        raise NotFound("Page not found.")
    kind = movement
    service.require_recording(actor, kind)
    form = {k: str(v)[:200] for k, v in form_fields(posted).items() if k != "csrf_token"}
    lang = get_lang(request)
    book = service.deposit if kind == "deposit" else service.withdraw

    def work() -> tuple[int, dict[str, str]]:
        try:
            org_id = int(form.get("org_id") or "")
        except ValueError:
            raise InvalidInput("{field} is required.", field="org_id") from None
        book(db, actor, org_id=org_id, amount_fen=service.parse_yuan(form.get("amount", ""), "amount"),
             bank_reference=form.get("bank_reference", ""), memo=form.get("memo", ""), field="amount")
        return 201, {}

    fields = {k: v for k, v in form.items() if k != "form_key"}
    outcome = idempotency.execute_once(
        db, caller=f"user:{actor.user_id}", key=form.get("form_key", ""),
        fingerprint=idempotency.fingerprint("POST", request.url.path, fields),
        ttl=settings.section(LedgerSettings).idempotency_ttl, work=work,
        on_error=lambda exc: (exc.status, {"detail": exc.render(lang)}))
    if outcome.status >= 400:
        return _books(request, db, actor, form=form, error=str(outcome.body.get("detail", "")),
                      status_code=outcome.status)
    return see_other(f"/operator/books?done={kind}")
