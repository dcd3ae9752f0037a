"""Usage bills of metered contracts (per call, per 1,000 rows), as their parties see them: one row
per bill (a contract's month, ``part`` 2 … for late reports) with its usage, amount, status and the
ledger transfer that paid it. Bills are made and charged by ``payments.bill_usage_due``; this module
only reads them, and the usage received but not yet billed (``usage_so_far``: the current month's
running usage with its estimated charge, and an ended month's until the periodic task bills it).

Who sees what: an organisation its own bills, as buyer or as seller (``exchange.bills``); an
operator every organisation's (``exchange.bills.all``); a contract's bills whoever may see the
contract (``trade.read``: its parties and exchange staff).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from qianshu.core.actor import Actor
from qianshu.core.i18n import N_, label, translate
from qianshu.core.policy import allows, require
from qianshu.core.timeutil import utcnow
from qianshu.exchange.models import Contract, UsageBill, UsageReport
from qianshu.exchange.payments import billing_period, usage_price
from qianshu.exchange.service import METERED_KINDS, get_contract
from qianshu.ledger import service as ledger

MAX_ROWS = 5000


def bill_status(bill: UsageBill) -> str:
    """paid; short (tried once, the buyer's wallet was short); retrying (short more than once:
    the periodic task tries again at each run)."""
    if bill.status == "charged":
        return "paid"
    return "retrying" if bill.attempts > 1 else "short"


@dataclass(frozen=True)
class BillRow:
    id: int
    contract_id: int
    number: str
    plan_kind: str
    side: str  # buyer | seller | "" (an operator's view of others' bills)
    period: str
    part: int
    units: int
    reports: int
    amount_fen: int
    fee_fen: int
    status: str  # paid | short | retrying
    attempts: int
    created_at: datetime
    charged_at: datetime | None
    transfer_id: int | None  # the ledger transfer that paid the seller (the bill's first leg)
    refunded_fen: int = 0  # given back by refund requests after the charge (exchange/refunds.py)

    @property
    def transfer_link(self) -> str | None:
        """The transfer in the contract's money trail (the contract page lists it by its id)."""
        if self.transfer_id is None:
            return None
        return f"/exchange/contracts/{self.contract_id}#transfer-{self.transfer_id}"


def _rows(db: Session, actor: Actor, query: object) -> list[BillRow]:
    found = db.execute(query).all()  # type: ignore[call-overload]
    transfers: dict[str, int] = {}
    for contract_id in {contract.id for _bill, contract in found}:
        for t in ledger.transfers_by_cause(db, "contract", contract_id):
            if t.unique_ref and t.unique_ref.startswith("usage-bill:"):
                transfers[t.unique_ref] = t.id
    rows = []
    for bill, contract in found:
        side = ("buyer" if contract.buyer_org_id == actor.org_id
                else "seller" if contract.seller_org_id == actor.org_id else "")
        ref = f"usage-bill:{contract.id}:{bill.period}:{bill.part}"
        rows.append(BillRow(bill.id, contract.id, contract.number, contract.plan_kind, side, bill.period, bill.part,
                            bill.units, bill.reports, bill.amount_fen, bill.fee_fen, bill_status(bill), bill.attempts,
                            bill.created_at, bill.charged_at, transfers.get(ref), bill.refunded_fen))
    return rows


def _base() -> object:
    return (select(UsageBill, Contract).join(Contract, Contract.id == UsageBill.contract_id)
            .order_by(UsageBill.period.desc(), Contract.id.desc(), UsageBill.part.desc()).limit(MAX_ROWS))


def list_bills(db: Session, actor: Actor, *, every: bool = False, status: str = "") -> list[BillRow]:
    """The actor organisation's bills (as buyer or seller); ``every``: all organisations' (operators)."""
    if every:
        require(actor, "exchange.bills.all")
        query = _base()
    else:
        require(actor, "exchange.bills")
        if actor.org_id is None:
            return []
        query = _base().where(or_(Contract.buyer_org_id == actor.org_id,  # type: ignore[attr-defined]
                                  Contract.seller_org_id == actor.org_id))
    rows = _rows(db, actor, query)
    return [r for r in rows if r.status == status] if status else rows


def contract_bills(db: Session, actor: Actor, contract_id: int) -> list[BillRow]:
    """One contract's bills, for whoever may see the contract."""
    contract = get_contract(db, actor, contract_id)
    return _rows(db, actor, _base().where(Contract.id == contract.id))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class UsageSoFar:
    """A period's usage received and not yet billed: the current month (always listed for a metered
    contract, 0 before any report) or an ended month waiting for ``exchange.bill_usage``."""

    contract_id: int
    plan_kind: str
    period: str
    units: int
    reports: int
    estimated_fen: int  # the bill's amount if nothing more came: the plan's price, rounded as a bill is
    closed: bool  # the month has ended: billed at the periodic task's next run


def usage_so_far(db: Session, actor: Actor, contract_id: int, now: datetime | None = None) -> list[UsageSoFar]:
    """A metered contract's unbilled usage by month, the current month first; whoever may see the
    contract. A contract that is not metered has none (an empty list)."""
    contract = get_contract(db, actor, contract_id)
    if contract.plan_kind not in METERED_KINDS:
        return []
    current = billing_period(now or utcnow())
    found = {str(period): (int(units or 0), int(count)) for period, units, count in db.execute(
        select(UsageReport.period, func.sum(UsageReport.units), func.count(UsageReport.id))
        .where(UsageReport.contract_id == contract.id, UsageReport.bill_id.is_(None),
               UsageReport.period.is_not(None))
        .group_by(UsageReport.period))}
    found.setdefault(current, (0, 0))
    return [UsageSoFar(contract.id, contract.plan_kind, period, units, count, usage_price(contract, units),
                       period < current)
            for period, (units, count) in sorted(found.items(), reverse=True)]


def sees_every_bill(actor: Actor) -> bool:
    return allows(actor, "exchange.bills.all")


def to_csv(rows: list[BillRow], lang: str) -> str:
    """The bills as CSV (UTF-8 with a byte-order mark, for Excel); amounts in fen and in yuan."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    head = (N_("Contract number"), N_("Side"), N_("Month"), N_("Part"), N_("Units"), N_("Usage reports"),
            N_("Amount (fen)"), N_("Amount (yuan)"), N_("Exchange fee (fen)"), N_("Status"), N_("Tries"),
            N_("Charged at"), N_("Ledger transfer"))
    writer.writerow([translate(h, lang) for h in head])
    for r in rows:
        whole, cents = divmod(r.amount_fen, 100)
        writer.writerow([r.number, label(r.side, "trade party", lang) if r.side else "", r.period,
                         r.part, r.units, r.reports, r.amount_fen, f"{whole}.{cents:02d}", r.fee_fen,
                         label(r.status, "bill status", lang), r.attempts,
                         r.charged_at.isoformat(timespec="seconds") if r.charged_at else "",
                         r.transfer_id or ""])
    return out.getvalue()
