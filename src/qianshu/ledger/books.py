"""Reading the books: statements (and their CSV and XLSX exports), trial balance, fees per month.

Days are Asia/Shanghai days: a statement "from 1 to 30 November" and a trial balance "as of 30
November" mean up to midnight at the end of that day in China, whatever the server's zone.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from qianshu.accounts.service import organisations_by_id
from qianshu.core.actor import Actor
from qianshu.core.errors import InvalidInput, NotFound
from qianshu.core.i18n import label, translate
from qianshu.core.policy import require
from qianshu.core.timeutil import SHANGHAI, utcnow
from qianshu.ledger.models import LedgerAccount
from qianshu.ledger.permissions import wallet_owner
from qianshu.ledger.service import ACCOUNTS, TRANSFERS, account_code

CSV_MEDIA = "text/csv; charset=utf-8"
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in Asia/Shanghai, in UTC."""
    return datetime.combine(day, time(0), SHANGHAI).astimezone(UTC)


def parse_day(text: str | None, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput("{field} must be a date like 2026-11-30.", field=field, code="invalid_date") from None


def today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


def yuan(fen: int) -> str:
    """Exact yuan text for exports: 123456 → "1234.56"."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def _owner_name(names: dict[int, Any], owner_org_id: int | None, lang: str) -> str:
    if owner_org_id is None:
        return translate("The exchange", lang)
    org = names.get(owner_org_id)
    if org is None:
        return str(owner_org_id)
    return str((org.name_en or org.name) if lang == "en" else org.name)


# --- statements ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StatementLine:
    transfer_id: int
    at: datetime
    kind: str
    cause_type: str
    cause_id: str
    memo: str
    counterparty: str  # the other account's owner and kind, in the reader's language
    money_in_fen: int
    money_out_fen: int
    balance_fen: int  # the account's balance right after this transfer


@dataclass(frozen=True)
class Statement:
    account_id: int | None  # None: the wallet was never opened (no money ever moved)
    code: str
    kind: str
    owner_org_id: int | None
    owner: str
    balance_fen: int
    lines: list[StatementLine]
    total_in_fen: int
    total_out_fen: int
    truncated: bool  # more lines matched than are shown
    kinds: list[str]  # the transfer kinds this account has, for the filter
    date_from: date | None
    date_to: date | None
    transfer_kind: str


def wallet_statement(db: Session, actor: Actor, org_id: int, lang: str, *, kind: str = "",
                     date_from: date | None = None, date_to: date | None = None, limit: int = 10_000) -> Statement:
    """An organisation's wallet with its transfers, newest first (its administrators, operators and
    auditors; anyone else is told it does not exist)."""
    require(actor, "ledger.statement.read", wallet_owner(org_id),
            hidden=NotFound("Organisation {org_id} does not exist.", field="org_id", org_id=org_id))
    if org_id not in organisations_by_id(db, [org_id]):
        raise NotFound("Organisation {org_id} does not exist.", field="org_id", org_id=org_id)
    # Read without opening: a GET writes nothing, and a wallet no money reached is simply empty.
    account_id = db.scalar(select(ACCOUNTS.c.id).where(ACCOUNTS.c.code == account_code("wallet", org_id)))
    return _statement(db, account_id, "wallet", org_id, lang, kind=kind, date_from=date_from, date_to=date_to,
                      limit=limit)


def account_statement(db: Session, actor: Actor, account_id: int, lang: str, *, kind: str = "",
                      date_from: date | None = None, date_to: date | None = None, limit: int = 10_000) -> Statement:
    """Any account's statement: its owner's administrators, operators and auditors."""
    account = db.get(LedgerAccount, account_id)
    missing = NotFound("Account {account_id} does not exist.", field="account_id", account_id=account_id)
    if account is None:
        raise missing
    require(actor, "ledger.statement.read", wallet_owner(account.owner_org_id), hidden=missing)
    return _statement(db, account.id, account.kind, account.owner_org_id, lang, kind=kind, date_from=date_from,
                      date_to=date_to, limit=limit)


def _statement(db: Session, account_id: int | None, account_kind: str, owner_org_id: int | None, lang: str, *,
               kind: str, date_from: date | None, date_to: date | None, limit: int) -> Statement:
    if date_from and date_to and date_from > date_to:
        raise InvalidInput("{field} must not be before the start date.", field="date_to", code="invalid_date")
    names = organisations_by_id(db, [owner_org_id] if owner_org_id is not None else [])
    owner = _owner_name(names, owner_org_id, lang)
    code = account_code(account_kind, owner_org_id)
    if account_id is None:
        return Statement(None, code, account_kind, owner_org_id, owner, 0, [], 0, 0, False, [], date_from, date_to,
                         kind)
    row = db.execute(select(ACCOUNTS.c.code, ACCOUNTS.c.balance_fen).where(ACCOUNTS.c.id == account_id)).one()
    mine = or_(TRANSFERS.c.debit_account_id == account_id, TRANSFERS.c.credit_account_id == account_id)
    query = select(TRANSFERS).where(mine)
    if kind:
        query = query.where(TRANSFERS.c.kind == kind)
    if date_from:
        query = query.where(TRANSFERS.c.created_at >= day_start(date_from))
    if date_to:
        query = query.where(TRANSFERS.c.created_at < day_start(date_to + timedelta(days=1)))
    found = list(db.execute(query.order_by(TRANSFERS.c.id.desc()).limit(limit + 1)))
    truncated = len(found) > limit
    found = found[:limit]
    others = {t.credit_account_id if t.debit_account_id == account_id else t.debit_account_id for t in found}
    other_rows = {r.id: r for r in db.execute(select(ACCOUNTS.c.id, ACCOUNTS.c.kind, ACCOUNTS.c.owner_org_id)
                                              .where(ACCOUNTS.c.id.in_(others)))} if others else {}
    names.update(organisations_by_id(db, {r.owner_org_id for r in other_rows.values() if r.owner_org_id}))
    lines = []
    for t in found:
        out = t.debit_account_id == account_id
        other = other_rows[t.credit_account_id if out else t.debit_account_id]
        lines.append(StatementLine(
            t.id, t.created_at, t.kind, t.cause_type, t.cause_id, t.memo,
            f"{_owner_name(names, other.owner_org_id, lang)} · {label(other.kind, 'account kind', lang)}",
            0 if out else t.amount_fen, t.amount_fen if out else 0,
            t.debit_balance_fen if out else t.credit_balance_fen))
    kinds = sorted(db.scalars(select(TRANSFERS.c.kind).where(mine).distinct()))
    return Statement(account_id, row.code, account_kind, owner_org_id, owner, int(row.balance_fen), lines,
                     sum(line.money_in_fen for line in lines), sum(line.money_out_fen for line in lines), truncated,
                     kinds, date_from, date_to, kind)


def _columns(lang: str) -> list[str]:
    return [translate(c, lang) for c in ("Transfer", "Time (Asia/Shanghai)", "Kind", "Cause", "Memo", "Counterparty",
                                         "Money in (yuan)", "Money out (yuan)", "Balance (yuan)")]


def _local(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def statement_csv(statement: Statement, lang: str) -> bytes:
    """The statement as CSV (UTF-8 with a byte-order mark, so that Excel reads the Chinese)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_columns(lang))
    for line in statement.lines:
        writer.writerow([line.transfer_id, _local(line.at), label(line.kind, "transfer kind", lang),
                         f"{line.cause_type} {line.cause_id}", line.memo, line.counterparty,
                         yuan(line.money_in_fen) if line.money_in_fen else "",
                         yuan(line.money_out_fen) if line.money_out_fen else "", yuan(line.balance_fen)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def statement_xlsx(statement: Statement, lang: str) -> bytes:
    """The statement as an Excel workbook (openpyxl, write-only): amounts are numbers in yuan."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet(translate("Statement", lang)[:31])
    sheet.append([translate("Account", lang), statement.code, statement.owner])
    sheet.append([translate("Balance (yuan)", lang), _money_cell(sheet, WriteOnlyCell, statement.balance_fen)])
    sheet.append([])
    sheet.append(_columns(lang))
    for line in statement.lines:
        sheet.append([line.transfer_id, _local(line.at), label(line.kind, "transfer kind", lang),
                      f"{line.cause_type} {line.cause_id}", line.memo, line.counterparty,
                      _money_cell(sheet, WriteOnlyCell, line.money_in_fen) if line.money_in_fen else None,
                      _money_cell(sheet, WriteOnlyCell, line.money_out_fen) if line.money_out_fen else None,
                      _money_cell(sheet, WriteOnlyCell, line.balance_fen)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _money_cell(sheet: Any, cell_type: Any, fen: int) -> Any:
    cell = cell_type(sheet, value=Decimal(fen) / 100)
    cell.number_format = "#,##0.00"
    return cell


# --- trial balance ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrialBalanceRow:
    account_id: int
    code: str
    kind: str
    owner: str
    debit_fen: int  # a balance below zero (bank clearing)
    credit_fen: int  # a balance above zero (what the exchange holds for someone, its fees)


@dataclass(frozen=True)
class TrialBalance:
    as_of: date
    rows: list[TrialBalanceRow]
    total_debit_fen: int
    total_credit_fen: int
    by_kind: dict[str, int]  # balance per account kind
    # For today or later: whether the balances recomputed from the transfers equal those kept on
    # the accounts (they always should).
    agrees_with_accounts: bool | None

    @property
    def balanced(self) -> bool:
        return self.total_debit_fen == self.total_credit_fen


def trial_balance(db: Session, actor: Actor, as_of: date, lang: str) -> TrialBalance:
    """Every account's balance at the end of ``as_of`` (Asia/Shanghai), recomputed from the
    transfers; the debit and credit columns total the same."""
    require(actor, "ledger.books.read")
    cutoff = day_start(as_of + timedelta(days=1))
    sums: dict[int, int] = defaultdict(int)
    for column, sign in ((TRANSFERS.c.credit_account_id, 1), (TRANSFERS.c.debit_account_id, -1)):
        for account_id, total in db.execute(select(column, func.sum(TRANSFERS.c.amount_fen))
                                            .where(TRANSFERS.c.created_at < cutoff).group_by(column)):
            sums[account_id] += sign * int(total)
    accounts = list(db.execute(select(ACCOUNTS.c.id, ACCOUNTS.c.code, ACCOUNTS.c.kind, ACCOUNTS.c.owner_org_id,
                                      ACCOUNTS.c.balance_fen).order_by(ACCOUNTS.c.id)))
    names = organisations_by_id(db, {a.owner_org_id for a in accounts if a.owner_org_id})
    rows: list[TrialBalanceRow] = []
    by_kind: dict[str, int] = defaultdict(int)
    for a in accounts:
        value = sums.get(a.id, 0)
        if value == 0 and a.id not in sums:
            continue
        rows.append(TrialBalanceRow(a.id, a.code, a.kind, _owner_name(names, a.owner_org_id, lang),
                                    -value if value < 0 else 0, value if value > 0 else 0))
        by_kind[a.kind] += value
    agrees = None
    if as_of >= today():
        agrees = all(sums.get(a.id, 0) == int(a.balance_fen) for a in accounts)
    return TrialBalance(as_of, rows, sum(r.debit_fen for r in rows), sum(r.credit_fen for r in rows),
                        dict(by_kind), agrees)


def trial_balance_csv(report: TrialBalance, lang: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([translate(c, lang) for c in ("Account", "Kind", "Owner", "Debit (yuan)", "Credit (yuan)")])
    for r in report.rows:
        writer.writerow([r.code, label(r.kind, "account kind", lang), r.owner, yuan(r.debit_fen) if r.debit_fen else "",
                         yuan(r.credit_fen) if r.credit_fen else ""])
    writer.writerow([translate("Total", lang), "", "", yuan(report.total_debit_fen), yuan(report.total_credit_fen)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# --- fees per month --------------------------------------------------------------------------------

@dataclass(frozen=True)
class FeeMonth:
    month: str  # "2026-11" (Asia/Shanghai)
    transfers: int
    earned_fen: int  # credited to the fee account
    returned_fen: int  # debited from it (fees refunded)

    @property
    def net_fen(self) -> int:
        return self.earned_fen - self.returned_fen


def fees_per_month(db: Session, actor: Actor, year: int | None = None) -> list[FeeMonth]:
    """The exchange's fee income per month, newest first (optionally of one year)."""
    require(actor, "ledger.books.read")
    if year is not None and not 2000 <= year <= 9999:
        raise InvalidInput("{field} must be at least {min}.", field="year", min=2000)
    fees_id = db.scalar(select(ACCOUNTS.c.id).where(ACCOUNTS.c.code == account_code("fees", None)))
    if fees_id is None:
        return []
    query = select(TRANSFERS.c.created_at, TRANSFERS.c.amount_fen, TRANSFERS.c.credit_account_id).where(
        or_(TRANSFERS.c.credit_account_id == fees_id, TRANSFERS.c.debit_account_id == fees_id))
    if year is not None:
        query = query.where(and_(TRANSFERS.c.created_at >= day_start(date(year, 1, 1)),
                                 TRANSFERS.c.created_at < day_start(date(year + 1, 1, 1))))
    months: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for at, amount, credit in db.execute(query):
        entry = months[at.astimezone(SHANGHAI).strftime("%Y-%m")]
        entry[0] += 1
        entry[1 if credit == fees_id else 2] += int(amount)
    return [FeeMonth(m, *months[m]) for m in sorted(months, reverse=True)]


def fees_csv(months: list[FeeMonth], lang: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([translate(c, lang) for c in ("Month", "Transfers", "Fees earned (yuan)", "Fees returned (yuan)",
                                                  "Net (yuan)")])
    for m in months:
        writer.writerow([m.month, m.transfers, yuan(m.earned_fen), yuan(m.returned_fen), yuan(m.net_fen)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def accounts_overview(db: Session, actor: Actor, lang: str) -> list[TrialBalanceRow]:
    """Every account with its balance now (operators and auditors)."""
    require(actor, "ledger.books.read")
    accounts = list(db.execute(select(ACCOUNTS).order_by(ACCOUNTS.c.id)))
    names = organisations_by_id(db, {a.owner_org_id for a in accounts if a.owner_org_id})
    return [TrialBalanceRow(a.id, a.code, a.kind, _owner_name(names, a.owner_org_id, lang),
                            -int(a.balance_fen) if a.balance_fen < 0 else 0,
                            int(a.balance_fen) if a.balance_fen > 0 else 0) for a in accounts]
