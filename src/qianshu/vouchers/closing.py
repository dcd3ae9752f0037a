"""The end of a programme: its unspent budget goes back to the administrator's wallet.

What the programme's account must keep after its end is what it still owes: the voucher value
spent on orders and not yet reimbursed (``committed_fen - reimbursed_fen``; vouchers never outlive
their programme, so once the expired ones lapse nothing else is committed). The rest,
``remaining_fen`` (budget − committed − already returned), moves to the wallet (transfer kind
``voucher_budget_return``). The first return closes the programme (``closed_at``, a leaf
``vouchers.programme_closed``); value freed later (an order settled below what it reserved, a
refunded contract's subsidy) is returned by a later run. Each fen goes back once: the programme's
row is locked (PostgreSQL; SQLite has one writer) and each return's ``unique_ref`` names the running
total it brings ``returned_fen`` to, so a second process finds nothing left and the ledger would
refuse the same move twice.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core import audit, inbox, policy
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.errors import Conflict
from qianshu.core.timeutil import utcnow
from qianshu.ledger import service as ledger
from qianshu.translog import service as log
from qianshu.vouchers.models import Programme
from qianshu.vouchers.permissions import programme_resource
from qianshu.vouchers.service import CAPABILITY, lapse_expired, lock, missing_programme, today, uscc_of


def return_unspent(db: Session, actor: Actor, programme_id: int) -> int:
    """Close an ended programme and return what it no longer owes to the administrator's wallet;
    the fen returned (0 when nothing is left). ``actor`` is the programme's administrator, or SYSTEM
    (the periodic task)."""
    programme = lock(db, Programme, programme_id, missing_programme(programme_id))
    if actor is not SYSTEM:
        policy.require(actor, "vouchers.programme.manage", programme_resource(programme.admin_org_id))
    if programme.ends_on >= today():
        raise Conflict("The programme runs until {day}; its budget returns after it ends.", field="programme_id",
                       code="programme_running", day=programme.ends_on.isoformat())
    lapse_expired(db, programme.id)
    amount = programme.remaining_fen
    if amount > 0:
        assert programme.budget_account_id is not None
        programme.returned_fen += amount
        ref = f"voucher-budget-return:{programme.id}:{programme.returned_fen}"
        ledger.transfers(db, actor, [ledger.Leg(programme.budget_account_id,
                                                ledger.wallet_of(db, programme.admin_org_id), amount,
                                                "voucher_budget_return", ("voucher_programme", programme.id),
                                                memo=programme.name_zh, unique_ref=ref)])
    first = programme.closed_at is None
    if first:
        programme.closed_at = utcnow()
    if amount > 0 or first:
        programme.version += 1
        usccs = uscc_of(db, [programme.admin_org_id])
        log.append_event(db, "vouchers.programme_closed", {
            "programme_id": programme.id, "administrator_uscc": usccs[programme.admin_org_id],
            "returned_fen": amount, "returned_total_fen": programme.returned_fen,
            "reimbursed_fen": programme.reimbursed_fen, "budget_fen": programme.budget_fen})
        audit.record(db, actor, "vouchers.programme.closed", target_type="voucher_programme", target_id=programme.id,
                     target_org_id=programme.admin_org_id, returned_fen=amount)
        inbox.notify(db, CAPABILITY,
                     "Programme {programme} ended: {amount} fen of its budget went back to your wallet.",
                     org_id=programme.admin_org_id, subject=("voucher_programme", programme.id),
                     link=f"/vouchers/programmes/{programme.id}", programme=programme.name_zh, amount=amount)
    db.flush()
    return amount


def due(db: Session) -> list[int]:
    """Programmes that ended and are not closed, or have value freed since they were."""
    ended = select(Programme).where(Programme.ends_on < today()).order_by(Programme.id)
    return [p.id for p in db.scalars(ended) if p.closed_at is None or p.remaining_fen > 0]


def close_ended(db: Session) -> int:
    """The periodic task's work: every ended programme's unspent budget back; the fen returned."""
    total = 0
    for programme_id in due(db):
        total += return_unspent(db, SYSTEM, programme_id)
    return total
