"""REST routes of the ledger under /api/v1/ledger. Handlers only translate HTTP.

Deposits and withdrawals move money: each needs an ``Idempotency-Key`` header
(``core.http.idempotent``); the permission is checked before the key, so a caller who may not do
it is refused (403) whatever it sends.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from qianshu.accounts.deps import CurrentActor
from qianshu.core.actor import Actor
from qianshu.core.http import AppSettings, DbSession, Lang, idempotent
from qianshu.core.openapi import problems
from qianshu.ledger import books, service
from qianshu.ledger import schemas as s
from qianshu.ledger.settings import LedgerSettings

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"])
Format = Annotated[Literal["json", "csv", "xlsx"], Query()]
Day = Annotated[str, Query(max_length=10)]


def _caller(actor: Actor) -> str:
    return f"user:{actor.user_id}"


def _download(body: bytes, media: str, name: str) -> Response:
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _statement_response(statement: books.Statement, fmt: str, lang: str, name: str) -> object:
    if fmt == "csv":
        return _download(books.statement_csv(statement, lang), books.CSV_MEDIA, f"{name}.csv")
    if fmt == "xlsx":
        return _download(books.statement_xlsx(statement, lang), books.XLSX_MEDIA, f"{name}.xlsx")
    return s.StatementOut(account_id=statement.account_id, code=statement.code, owner_org_id=statement.owner_org_id,
                          balance_fen=statement.balance_fen, total_in_fen=statement.total_in_fen,
                          total_out_fen=statement.total_out_fen, truncated=statement.truncated,
                          lines=[s.StatementLineOut(**dataclasses.asdict(line)) for line in statement.lines])


@router.get("/wallets/{org_id}", response_model=s.WalletOut, summary="An organisation's wallet and balance",
            responses=problems(403, 404))
def wallet(org_id: int, db: DbSession, actor: CurrentActor, lang: Lang) -> object:
    found = books.wallet_statement(db, actor, org_id, lang, limit=0)
    return s.WalletOut(org_id=org_id, account_id=found.account_id, code=found.code, balance_fen=found.balance_fen)


@router.get("/wallets/{org_id}/statement", response_model=s.StatementOut,
            summary="An organisation's wallet statement (JSON, CSV or XLSX)", responses=problems(403, 404, 422))
def wallet_statement(org_id: int, db: DbSession, actor: CurrentActor, lang: Lang, settings: AppSettings,
                     kind: Annotated[str, Query(max_length=30)] = "", date_from: Day = "", date_to: Day = "",
                     format: Format = "json") -> object:
    found = books.wallet_statement(db, actor, org_id, lang, kind=kind,
                                   date_from=books.parse_day(date_from, "date_from"),
                                   date_to=books.parse_day(date_to, "date_to"),
                                   limit=settings.section(LedgerSettings).statement_max_rows)
    return _statement_response(found, format, lang, f"statement-org{org_id}")


@router.get("/accounts", response_model=list[s.AccountBalanceOut], summary="Every account and its balance",
            responses=problems(403))
def accounts(db: DbSession, actor: CurrentActor, lang: Lang) -> object:
    return [s.AccountBalanceOut(**dataclasses.asdict(r)) for r in books.accounts_overview(db, actor, lang)]


@router.get("/accounts/{account_id}/statement", response_model=s.StatementOut,
            summary="Any account's statement (JSON, CSV or XLSX)", responses=problems(403, 404, 422))
def account_statement(account_id: int, db: DbSession, actor: CurrentActor, lang: Lang, settings: AppSettings,
                      kind: Annotated[str, Query(max_length=30)] = "", date_from: Day = "", date_to: Day = "",
                      format: Format = "json") -> object:
    found = books.account_statement(db, actor, account_id, lang, kind=kind,
                                    date_from=books.parse_day(date_from, "date_from"),
                                    date_to=books.parse_day(date_to, "date_to"),
                                    limit=settings.section(LedgerSettings).statement_max_rows)
    return _statement_response(found, format, lang, f"statement-account{account_id}")


def _fields(posted: service.Transfer) -> dict[str, object]:
    return {name: getattr(posted, name) for name in s.TransferOut.model_fields}


def _bank_movement(kind: Literal["deposit", "withdrawal"], request: Request, db: DbSession, actor: Actor,
                   settings: AppSettings, data: s.BankMovementIn) -> JSONResponse:
    service.require_recording(actor, kind)
    book = service.deposit if kind == "deposit" else service.withdraw

    def work() -> object:
        posted = book(db, actor, org_id=data.org_id, amount_fen=data.amount_fen, bank_reference=data.bank_reference,
                      memo=data.memo)
        return s.TransferOut(**_fields(posted)).model_dump(mode="json")

    return idempotent(request, db, _caller(actor), data.model_dump(mode="json"),
                      settings.section(LedgerSettings).idempotency_ttl, work)


@router.post("/deposits", status_code=201, response_model=s.TransferOut,
             summary="Record a deposit (needs an Idempotency-Key header)", responses=problems(403, 404, 409, 422))
def deposit(request: Request, db: DbSession, actor: CurrentActor, settings: AppSettings,
            data: s.BankMovementIn) -> JSONResponse:
    return _bank_movement("deposit", request, db, actor, settings, data)


@router.post("/withdrawals", status_code=201, response_model=s.TransferOut,
             summary="Record a withdrawal (needs an Idempotency-Key header)", responses=problems(403, 404, 409, 422))
def withdrawal(request: Request, db: DbSession, actor: CurrentActor, settings: AppSettings,
               data: s.BankMovementIn) -> JSONResponse:
    return _bank_movement("withdrawal", request, db, actor, settings, data)


@router.get("/trial-balance", response_model=s.TrialBalanceOut,
            summary="Trial balance at the end of a day (Asia/Shanghai)", responses=problems(403, 422))
def trial_balance(db: DbSession, actor: CurrentActor, lang: Lang, date: Day = "",
                  format: Annotated[Literal["json", "csv"], Query()] = "json") -> object:
    as_of = books.parse_day(date, "date") or books.today()
    report = books.trial_balance(db, actor, as_of, lang)
    if format == "csv":
        return _download(books.trial_balance_csv(report, lang), books.CSV_MEDIA, f"trial-balance-{as_of}.csv")
    return s.TrialBalanceOut(as_of=report.as_of, balanced=report.balanced, total_debit_fen=report.total_debit_fen,
                             total_credit_fen=report.total_credit_fen,
                             agrees_with_accounts=report.agrees_with_accounts, by_kind=report.by_kind,
                             rows=[s.AccountBalanceOut(**dataclasses.asdict(r)) for r in report.rows])


@router.get("/fees", response_model=list[s.FeeMonthOut], summary="The exchange's fees per month",
            responses=problems(403, 422))
def fees(db: DbSession, actor: CurrentActor, lang: Lang, year: Annotated[int | None, Query()] = None,
         format: Annotated[Literal["json", "csv"], Query()] = "json") -> object:
    months = books.fees_per_month(db, actor, year)
    if format == "csv":
        return _download(books.fees_csv(months, lang), books.CSV_MEDIA, "fees-per-month.csv")
    return [s.FeeMonthOut(month=m.month, transfers=m.transfers, earned_fen=m.earned_fen, returned_fen=m.returned_fen,
                          net_fen=m.net_fen) for m in months]

