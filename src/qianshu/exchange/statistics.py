"""Public statistics of the exchange: transactions and turnover by month, industry, region,
delivery mode and product; products listed and resources registered over time.

A transaction is a contract both parties signed, or the contract that records an asset transfer by
forced sale (``exchange/transfers.py``: the winning price, settled on the sale). Turnover is the
money the contracts moved, each item less what was refunded of it: a prepaid contract's or a
transfer's price (in the month it was signed), each renewed period of a subscription
(``exchange_contract_periods``, in the month it was charged) and each paid usage bill of a metered
contract (in the month it was charged). A metered contract's own price is a unit price, not money
that moved, so only its bills count. A sold asset never listed counts under no product; its industry
and region are its registration's (a listing takes them from its registration too).
Nothing here is confidential: counts and sums over many contracts, and product names already public.
Months are counted in Asia/Shanghai.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.catalog import service as catalog
from qianshu.core.timeutil import SHANGHAI, as_utc
from qianshu.core.vocabulary import industry_name, region_name
from qianshu.exchange.models import Contract, ContractPeriod, UsageBill
from qianshu.exchange.service import METERED_KINDS
from qianshu.registry import service as registry

TOP_PRODUCTS = 10
# A group of fewer contracts than this shows its count but not its amount: a single contract's
# price is confidential between its parties (the public log never carries it either).
MIN_GROUP = 3
# The series a page draws and a CSV exports, by the name in their address.
SERIES = ("by_month", "by_industry", "by_region", "by_mode", "top_products", "listed_over_time",
          "registered_over_time")


@dataclass(frozen=True)
class Point:
    key: str  # a month "2025-07", an industry section, a prefecture code, a delivery mode, a product id
    count: int
    amount_fen: int | None = 0  # None: too few contracts to show an amount (MIN_GROUP)
    label_zh: str = ""
    label_en: str = ""

    def label(self, lang: str) -> str:
        return (self.label_en if lang == "en" else self.label_zh) or self.key


@dataclass
class Statistics:
    transactions: int = 0
    turnover_fen: int | None = 0  # None while the money of fewer than MIN_GROUP contracts is in it
    products_listed: int = 0
    resources_registered: int = 0
    series: dict[str, list[Point]] = field(default_factory=dict)
    # The turnover's parts: contract prices, renewed periods, usage bills (None: fewer than
    # MIN_GROUP contracts paid that kind of money).
    parts: dict[str, int | None] = field(default_factory=dict)


PARTS = ("prices", "renewals", "usage")
GROUPS = ("by_month", "by_industry", "by_region", "by_mode", "top_products")


@dataclass
class _Group:
    count: int = 0  # contracts signed
    amount: int = 0
    payers: set[int] = field(default_factory=set)  # contracts whose money is in ``amount``


def _month(value: datetime) -> str:
    return as_utc(value).astimezone(SHANGHAI).strftime("%Y-%m")


def _cumulative(dates: Iterable[datetime]) -> list[Point]:
    per_month = Counter(_month(d) for d in dates)
    total, points = 0, []
    for month in sorted(per_month):
        total += per_month[month]
        points.append(Point(month, total))
    return points


def _public(group: _Group) -> bool:
    """Whether a group's amount may be shown: the money of at least ``MIN_GROUP`` contracts, or of
    none (nothing paid is no one's secret: a demo without renewals shows 0, not "not shown")."""
    return len(group.payers) >= MIN_GROUP or not group.payers


def _money(db: Session) -> list[tuple[str, int, datetime | None, int]]:
    """Every item of money the signed contracts moved: (part, contract id, when, net amount)."""
    signed = Contract.starts_at.is_not(None)
    items = [("prices", cid, at, int(price) - int(refunded)) for cid, at, price, refunded in db.execute(
        select(Contract.id, Contract.starts_at, Contract.price_fen, Contract.refunded_fen)
        .where(signed, Contract.plan_kind.not_in(METERED_KINDS)))]
    items += [("renewals", cid, at, int(price) - int(refunded)) for cid, at, price, refunded in db.execute(
        select(ContractPeriod.contract_id, ContractPeriod.paid_at, ContractPeriod.price_fen,
               ContractPeriod.refunded_fen).join(Contract, Contract.id == ContractPeriod.contract_id).where(signed))]
    items += [("usage", cid, at, int(amount) - int(refunded)) for cid, at, amount, refunded in db.execute(
        select(UsageBill.contract_id, UsageBill.charged_at, UsageBill.amount_fen, UsageBill.refunded_fen)
        .join(Contract, Contract.id == UsageBill.contract_id)
        .where(signed, UsageBill.status == "charged", UsageBill.charged_at.is_not(None)))]
    return [(part, cid, at, max(amount, 0)) for part, cid, at, amount in items]


def _unlisted_places(db: Session, contract_ids: list[int]) -> dict[int, tuple[str, str]]:
    """(industry section, division code) of the contracts that name no listing (asset transfers of
    an asset never listed), from the registration their text names."""
    if not contract_ids:
        return {}
    numbers = {cid: (document.get("product") or {}).get("registration_number") or "" for cid, document in
               db.execute(select(Contract.id, Contract.document).where(Contract.id.in_(contract_ids)))}
    found = registry.registrations_by_number(db, {n for n in numbers.values() if n})
    return {cid: ((reg.industry_code or "")[:1], reg.division_code or "") for cid, number in numbers.items()
            if (reg := found.get(number)) is not None}


def compute(db: Session) -> Statistics:
    """The figures; a turnover (the headline's, a part's or a group's) only over the money of at
    least ``MIN_GROUP`` contracts."""
    rows = db.execute(select(Contract.id, Contract.listing_id, Contract.starts_at, Contract.delivery_mode)
                      .where(Contract.starts_at.is_not(None))).all()
    contracts = {cid: (listing_id, starts_at, mode) for cid, listing_id, starts_at, mode in rows}
    facts = catalog.listing_facts(db, {row[1] for row in rows if row[1] is not None})
    unlisted = _unlisted_places(db, [row[0] for row in rows if row[1] is None])
    stats = Statistics(transactions=len(rows))
    groups: dict[str, dict[str, _Group]] = defaultdict(lambda: defaultdict(_Group))

    def keys(cid: int, at: datetime | None) -> dict[str, str]:
        listing_id, _starts, mode = contracts[cid]
        product = None if listing_id is None else facts.get(listing_id)
        section, division = (product.industry_section, product.division_code) if product else unlisted.get(
            cid, ("", ""))
        found = {"by_month": _month(at) if at else "-", "by_mode": mode, "by_industry": section or "-",
                 "by_region": (division[:4] + "00") if division else "-"}
        if listing_id is not None:  # an asset transfer of a never-listed asset is in no product's
            found["top_products"] = str(listing_id)
        return found

    for cid, (_listing, starts_at, _mode) in contracts.items():
        for name, key in keys(cid, starts_at).items():
            groups[name][key].count += 1
    parts = {part: _Group() for part in PARTS}
    for part, cid, at, amount in _money(db):
        parts[part].amount += amount
        parts[part].payers.add(cid)
        for name, key in keys(cid, at).items():
            groups[name][key].amount += amount
            groups[name][key].payers.add(cid)
    for name in GROUPS:
        points = []
        for key, group in groups[name].items():
            zh = en = ""
            if name == "by_industry" and key != "-":
                zh, en = industry_name(key, "zh"), industry_name(key, "en")
            elif name == "by_region" and key != "-":
                zh, en = region_name(key, "zh"), region_name(key, "en")
            elif name == "top_products" and (product := facts.get(int(key))) is not None:
                zh, en = product.title_zh, product.title_en or product.title_zh
            shown = group.amount if _public(group) else None
            points.append(Point(key, group.count, shown, zh, en))
        if name == "by_month":
            points.sort(key=lambda p: p.key)
        else:
            points.sort(key=lambda p: (-(p.amount_fen or 0), -p.count, p.key))
        stats.series[name] = points[:TOP_PRODUCTS] if name == "top_products" else points
    # The same rule for the headline: with one or two contracts in all, the total is their price.
    payers = set().union(*(g.payers for g in parts.values()))
    whole = _Group(amount=sum(g.amount for g in parts.values()), payers=payers)
    stats.turnover_fen = whole.amount if _public(whole) else None
    stats.parts = {part: g.amount if _public(g) else None for part, g in parts.items()}
    listed = catalog.listed_dates(db)
    issued = registry.issued_dates(db)
    stats.products_listed, stats.resources_registered = len(listed), len(issued)
    stats.series["listed_over_time"] = _cumulative(listed)
    stats.series["registered_over_time"] = _cumulative(issued)
    return stats


def to_csv(points: list[Point], lang: str) -> str:
    """A series as CSV (UTF-8 with a byte-order mark, so that Excel reads the Chinese)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(["key", "label", "count", "amount_yuan"])
    for p in points:
        amount = "" if p.amount_fen is None else f"{p.amount_fen / 100:.2f}"
        writer.writerow([p.key, p.label(lang), p.count, amount])
    return out.getvalue()
