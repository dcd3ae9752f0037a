"""Renewals booked before 0034 get their period rows; one open refund request per item

Revision ID: 0036_exchange_periods_backfill
Revises: 0035_finance_sale_contract

1. Before migration 0034 a subscription's renewal was charged straight from the buyer's wallet to
   the seller's and the fee account (transfer kinds ``renewal`` and ``fee``, ``unique_ref``
   ``renew:contract:<id>:<date>``), with a ``renewed`` timeline entry (``amount_fen``, ``fee_fen``,
   ``until``; no ``period``) and the fee added to the contract's ``fee_fen``. Each such renewal
   becomes a settled row of ``exchange_contract_periods`` (paid, delivered and settled when it was
   charged), so that pages, refund requests and statistics treat every renewal alike; the ledger is
   not touched (its transfers stay as booked), and the renewal's fee moves from the contract's
   ``fee_fen`` to the period's, as renewals since 0034 keep it. Numbers follow the order of the
   charges (2, 3 …); a contract that was also renewed since 0034 keeps those numbers (they are in
   its ledger references and public-log leaves), and its earlier renewals are numbered after them.
2. Refund requests: ``open_item`` ("<contract>:period-<n>" or "<contract>:bill-<id>" while the
   request is open) is unique instead of ``open_contract_id``, so a contract may have one open
   request per item it can refund.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0036_exchange_periods_backfill"
down_revision: str | None = "0035_finance_sale_contract"
branch_labels = None
depends_on = None

# As exchange.service.PERIOD_DAYS was when these renewals were charged (a migration keeps its own copy).
PERIOD_DAYS = {"monthly": 30, "yearly": 365}
OPEN = ("pending", "escalated")


def _detail(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return value if isinstance(value, dict) else {}


def _moment(value: Any) -> datetime:
    """A stored time (SQLite gives text) as an aware UTC datetime."""
    moment: datetime = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _exact_ends(renewals: list[tuple[datetime, dict[str, Any], str]], anchor: datetime | None) -> list[datetime]:
    """Each legacy renewal's end. The timeline kept it to the second; each renewal added exactly one
    period to the contract's end, so an end within a second of ``anchor`` (the contract's end, or
    the start of its first period since 0034) less whole periods is that, to the microsecond, as
    the contract's own ``ends_at`` has it."""
    stated = [_moment(detail["until"]) for _at, detail, _kind in renewals]
    if anchor is None:
        return stated
    days, count = PERIOD_DAYS[renewals[-1][2]], len(stated)
    chain = [anchor - timedelta(days=days * (count - 1 - i)) for i in range(count)]
    return [c if abs((c - s).total_seconds()) < 1 else s for c, s in zip(chain, stated, strict=True)]


def _backfill_periods(conn: sa.Connection) -> None:
    timeline = sa.table("exchange_timeline", sa.column("id"), sa.column("contract_id"), sa.column("step"),
                        sa.column("at"), sa.column("detail"))
    contracts = sa.table("exchange_contracts", sa.column("id"), sa.column("plan_kind"), sa.column("fee_fen"),
                         sa.column("ends_at"))
    periods = sa.table("exchange_contract_periods", sa.column("contract_id"), sa.column("number"),
                       sa.column("starts_at"), sa.column("ends_at"), sa.column("price_fen"),
                       sa.column("payment_status"), sa.column("fee_fen"), sa.column("refunded_fen"),
                       sa.column("paid_at"), sa.column("delivered_at"), sa.column("settled_at"),
                       sa.column("version"))
    rows = conn.execute(
        sa.select(timeline.c.contract_id, timeline.c.at, timeline.c.detail, contracts.c.plan_kind,
                  contracts.c.ends_at)
        .join(contracts, contracts.c.id == timeline.c.contract_id)
        .where(timeline.c.step == "renewed").order_by(timeline.c.contract_id, timeline.c.at, timeline.c.id)
    ).all()
    legacy: dict[int, list[tuple[datetime, dict[str, Any], str]]] = defaultdict(list)
    ends: dict[int, datetime | None] = {}
    for contract_id, at, detail, plan_kind, ends_at in rows:
        found = _detail(detail)
        ends[contract_id] = _moment(ends_at) if ends_at is not None else None
        if "period" not in found and "until" in found and plan_kind in PERIOD_DAYS:
            legacy[contract_id].append((_moment(at), found, plan_kind))
    if not legacy:
        return
    taken: dict[int, int] = {}
    present: set[tuple[int, datetime]] = set()  # run again (after a downgrade): those rows are there
    earliest: dict[int, datetime] = {}  # the start of each contract's first period since 0034
    for contract_id, number, starts_at, ends_at in conn.execute(
            sa.select(periods.c.contract_id, periods.c.number, periods.c.starts_at, periods.c.ends_at)
            .where(periods.c.contract_id.in_(list(legacy)))).all():
        taken[contract_id] = max(taken.get(contract_id, 1), int(number))
        present.add((contract_id, _moment(ends_at).replace(microsecond=0)))
        start = _moment(starts_at)
        earliest[contract_id] = min(earliest.get(contract_id, start), start)
    for contract_id, renewals in legacy.items():
        number = taken.get(contract_id, 1)
        fees = 0
        exact = _exact_ends(renewals, earliest.get(contract_id) or ends.get(contract_id))
        for (at, detail, plan_kind), until in zip(renewals, exact, strict=True):
            if (contract_id, until.replace(microsecond=0)) in present:
                continue
            number += 1
            fee = int(detail.get("fee_fen") or 0)
            fees += fee
            conn.execute(periods.insert().values(
                contract_id=contract_id, number=number, starts_at=until - timedelta(days=PERIOD_DAYS[plan_kind]),
                ends_at=until, price_fen=int(detail.get("amount_fen") or 0), payment_status="settled", fee_fen=fee,
                refunded_fen=0, paid_at=at, delivered_at=at, settled_at=at, version=1))
        if not fees:
            continue
        conn.execute(contracts.update().where(contracts.c.id == contract_id)
                     .values(fee_fen=sa.case((contracts.c.fee_fen >= fees, contracts.c.fee_fen - fees), else_=0)))


def _open_items(conn: sa.Connection) -> None:
    requests = sa.table("exchange_refund_requests", sa.column("id"), sa.column("contract_id"),
                        sa.column("status"), sa.column("period_number"), sa.column("bill_id"),
                        sa.column("open_item"))
    for request_id, contract_id, period, bill in conn.execute(
            sa.select(requests.c.id, requests.c.contract_id, requests.c.period_number, requests.c.bill_id)
            .where(requests.c.status.in_(OPEN))).all():
        key = f"bill-{bill}" if bill is not None else f"period-{period or 1}"
        conn.execute(requests.update().where(requests.c.id == request_id)
                     .values(open_item=f"{contract_id}:{key}"))


def upgrade() -> None:
    with op.batch_alter_table("exchange_refund_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("open_item", sa.String(length=40), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_exchange_refund_requests_open_contract_id"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_exchange_refund_requests_open_item"), ["open_item"])
    conn = op.get_bind()
    _open_items(conn)
    _backfill_periods(conn)


def downgrade() -> None:
    """The backfilled periods stay (they describe money the ledger holds, and 0034's code reads them;
    upgrading again skips them); only one open request per contract is possible again: a second
    open request of a contract is closed as refused first."""
    conn = op.get_bind()
    requests = sa.table("exchange_refund_requests", sa.column("id"), sa.column("open_contract_id"),
                        sa.column("status"), sa.column("answer_reason"))
    seen: set[int] = set()
    for request_id, contract_id in conn.execute(
            sa.select(requests.c.id, requests.c.open_contract_id).where(requests.c.open_contract_id.is_not(None))
            .order_by(requests.c.id)).all():
        if contract_id in seen:
            conn.execute(requests.update().where(requests.c.id == request_id)
                         .values(open_contract_id=None, status="refused",
                                 answer_reason="closed by downgrade 0036: one open request per contract"))
        seen.add(contract_id)
    with op.batch_alter_table("exchange_refund_requests", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_exchange_refund_requests_open_item"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_exchange_refund_requests_open_contract_id"),
                                          ["open_contract_id"])
        batch_op.drop_column("open_item")
