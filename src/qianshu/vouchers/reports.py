"""What the administrators' CLI reads: every programme's money, and a programme's vouchers or orders
as CSV rows (``qianshu vouchers programmes | budget | export``). Plain reads, no policy: the CLI is
run by whoever runs the installation."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.errors import InvalidInput
from qianshu.ledger import service as ledger
from qianshu.vouchers.models import ComputeOrder, Programme, Reimbursement, Voucher
from qianshu.vouchers.service import missing_programme, uscc_of

EXPORTS = ("vouchers", "orders")


def budget_status(db: Session, programme: Programme) -> dict[str, Any]:
    """Where a programme's money stands: its figures and its ledger account. ``owed_fen`` is what
    the account must still pay (voucher value spent and not reimbursed); ``account_balance_fen``
    equals ``remaining_fen + owed_fen`` plus value reserved on vouchers while they are valid."""
    balance = ledger.balance(db, programme.budget_account_id) if programme.budget_account_id else 0
    p = programme
    return {"id": p.id, "name": p.name_zh, "kind": p.kind, "starts_on": p.starts_on.isoformat(),
            "ends_on": p.ends_on.isoformat(), "budget_fen": p.budget_fen, "committed_fen": p.committed_fen,
            "reimbursed_fen": p.reimbursed_fen, "returned_fen": p.returned_fen, "remaining_fen": p.remaining_fen,
            "owed_fen": p.committed_fen - p.reimbursed_fen, "account_balance_fen": balance,
            "closed_at": p.closed_at.isoformat() if p.closed_at else None}


def all_budgets(db: Session) -> list[dict[str, Any]]:
    return [budget_status(db, p) for p in db.scalars(select(Programme).order_by(Programme.id))]


def one_budget(db: Session, programme_id: int) -> dict[str, Any]:
    found = db.get(Programme, programme_id)
    if found is None:
        raise missing_programme(programme_id)
    return budget_status(db, found)


def export_csv(db: Session, programme_id: int, what: str) -> tuple[str, int]:
    """A programme's vouchers or orders (with their claims) as CSV, UTF-8 with a byte-order mark so
    that Excel reads the Chinese; and the number of rows."""
    if db.get(Programme, programme_id) is None:
        raise missing_programme(programme_id)
    if what not in EXPORTS:
        raise InvalidInput("{field} must be one of: {expected}.", field="what", expected=", ".join(EXPORTS))
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    rows = 0
    if what == "vouchers":
        found = list(db.scalars(select(Voucher).where(Voucher.programme_id == programme_id).order_by(Voucher.id)))
        usccs = uscc_of(db, list({v.holder_org_id for v in found}))
        writer.writerow(["voucher_id", "holder_uscc", "face_fen", "remaining_fen", "lapsed_fen", "issued_at",
                         "expires_on", "log_index"])
        for v in found:
            writer.writerow([v.id, usccs.get(v.holder_org_id, ""), v.face_fen, v.remaining_fen, v.lapsed_fen,
                             v.issued_at.isoformat(), v.expires_on.isoformat(), v.log_index])
            rows += 1
    else:
        orders = list(db.scalars(select(ComputeOrder).where(ComputeOrder.programme_id == programme_id)
                                 .order_by(ComputeOrder.id)))
        claims = {c.order_id: c for c in db.scalars(select(Reimbursement).where(
            Reimbursement.programme_id == programme_id))}
        usccs = uscc_of(db, list({o.company_org_id for o in orders} | {o.provider_org_id for o in orders}))
        writer.writerow(["order_id", "subject", "company_uscc", "provider_uscc", "month", "card_hours",
                         "total_fen", "voucher_fen", "cash_fen", "status", "settled_voucher_fen", "returned_fen",
                         "claim_status", "claimed_fen", "invoice_number"])
        for o in orders:
            claim = claims.get(o.id)
            writer.writerow([o.id, o.subject, usccs.get(o.company_org_id, ""), usccs.get(o.provider_org_id, ""),
                             o.month, o.card_hours, o.total_fen, o.voucher_fen, o.cash_fen, o.status,
                             "" if o.settled_voucher_fen is None else o.settled_voucher_fen, o.returned_fen,
                             claim.status if claim else "", claim.amount_fen if claim else "",
                             claim.invoice_number if claim else ""])
            rows += 1
    return out.getvalue(), rows
