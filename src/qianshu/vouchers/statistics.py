"""The voucher dashboards: budget used, vouchers issued and redeemed, card-hours bought with
vouchers, by provider, purpose, month and city. Public: every figure is an aggregate of facts
already on the public log. Points and CSV are the exchange's (``exchange.statistics``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import policy
from qianshu.core.actor import Actor
from qianshu.core.i18n import N_, pgettext, translate
from qianshu.core.vocabulary import region_name
from qianshu.exchange.statistics import Point, to_csv
from qianshu.vouchers.models import ComputeOrder, Programme, Voucher

NO_CITY = N_("Exchange contracts (data vouchers)")
SERIES = ("by_month", "by_provider", "by_purpose", "by_city", "hours_by_provider")
__all__ = ["SERIES", "Dashboard", "dashboard", "to_csv"]


@dataclass
class Dashboard:
    budget_fen: int = 0
    committed_fen: int = 0
    reimbursed_fen: int = 0
    vouchers_issued: int = 0
    issued_fen: int = 0
    orders: int = 0
    redeemed_fen: int = 0  # the voucher part of orders (settled: what the settlement kept; less refunds)
    card_hours: int = 0
    series: dict[str, list[Point]] = field(default_factory=dict)


def dashboard(db: Session, actor: Actor, programme_id: int | None = None) -> Dashboard:
    policy.require(actor, "vouchers.directory")
    programmes = select(Programme)
    orders = select(ComputeOrder.provider_org_id, ComputeOrder.purpose, ComputeOrder.month, ComputeOrder.city_code,
                    ComputeOrder.voucher_fen,
                    ComputeOrder.settled_voucher_fen, ComputeOrder.card_hours, ComputeOrder.used_card_hours,
                    ComputeOrder.returned_fen)
    vouchers = select(func.count(Voucher.id), func.coalesce(func.sum(Voucher.face_fen), 0))
    if programme_id is not None:
        programmes = programmes.where(Programme.id == programme_id)
        orders = orders.where(ComputeOrder.programme_id == programme_id)
        vouchers = vouchers.where(Voucher.programme_id == programme_id)
    board = Dashboard()
    for p in db.scalars(programmes):
        board.budget_fen += p.budget_fen
        board.committed_fen += p.committed_fen
        board.reimbursed_fen += p.reimbursed_fen  # less subsidies paid back after refunds
    count, total = db.execute(vouchers).one()
    board.vouchers_issued, board.issued_fen = int(count), int(total)
    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    rows = db.execute(orders).all()
    for provider, purpose, month, city, voucher, settled, hours, used, returned in rows:
        spent = int(settled if settled is not None else voucher) - int(returned or 0)
        hours_bought = int(used if used is not None else hours)
        board.orders += 1
        board.redeemed_fen += spent
        board.card_hours += hours_bought
        for name, key in (("by_month", month), ("by_provider", str(provider)), ("by_purpose", purpose),
                          ("by_city", city or "-")):
            groups[name][key][0] += 1
            groups[name][key][1] += spent
        if hours_bought:  # a data voucher's contract buys no card-hours: no bar of 0 for its seller
            groups["hours_by_provider"][str(provider)][0] += hours_bought
    names = accounts.organisations_by_id(db, {int(r[0]) for r in rows})
    for name in SERIES:
        points = []
        for key, (count_, amount) in groups[name].items():
            zh = en = ""
            if name in ("by_provider", "hours_by_provider") and int(key) in names:
                zh, en = names[int(key)].name, names[int(key)].name_en or names[int(key)].name
            elif name == "by_city" and key != "-":
                zh, en = region_name(key, "zh"), region_name(key, "en")
            elif name == "by_city":  # data vouchers' exchange contracts have no data centre
                zh, en = translate(NO_CITY, "zh"), translate(NO_CITY, "en")
            elif name == "by_purpose":  # the CSV's label column, as the chart labels it
                zh, en = pgettext("voucher purpose", key, "zh"), pgettext("voucher purpose", key, "en")
            points.append(Point(key, count_, amount, zh, en))
        if name == "by_month":
            points.sort(key=lambda p: p.key)
        else:
            points.sort(key=lambda p: (-(p.amount_fen or 0), -p.count, p.key))
        board.series[name] = points
    return board
