"""Public statistics of the exchange: transactions and turnover by month, industry, region,
delivery mode and product; products listed and resources registered over time.

A transaction is a contract both parties signed, or the contract that records an asset transfer by
forced sale (``exchange/transfers.py``: the winning price, settled on the sale); its turnover is its
price less what was refunded. A sold asset never listed counts under no product, industry or region.
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
from qianshu.exchange.models import Contract
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
    turnover_fen: int | None = 0  # None while there are fewer than MIN_GROUP transactions
    products_listed: int = 0
    resources_registered: int = 0
    series: dict[str, list[Point]] = field(default_factory=dict)


def _month(value: datetime) -> str:
    return as_utc(value).astimezone(SHANGHAI).strftime("%Y-%m")


def _cumulative(dates: Iterable[datetime]) -> list[Point]:
    per_month = Counter(_month(d) for d in dates)
    total, points = 0, []
    for month in sorted(per_month):
        total += per_month[month]
        points.append(Point(month, total))
    return points


def compute(db: Session) -> Statistics:
    """The figures; a turnover (the headline's or a group's) only over at least ``MIN_GROUP``
    contracts."""
    rows = db.execute(select(Contract.listing_id, Contract.starts_at, Contract.price_fen, Contract.refunded_fen,
                             Contract.delivery_mode).where(Contract.starts_at.is_not(None))).all()
    facts = catalog.listing_facts(db, {row[0] for row in rows if row[0] is not None})
    stats = Statistics(transactions=len(rows))
    turnover = 0
    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for listing_id, starts_at, price, refunded, mode in rows:
        amount = max(int(price) - int(refunded), 0)
        turnover += amount
        product = None if listing_id is None else facts.get(listing_id)
        keys = {"by_month": _month(starts_at) if starts_at else "-", "by_mode": mode,
                "by_industry": product.industry_section if product and product.industry_section else "-",
                "by_region": (product.division_code[:4] + "00") if product and product.division_code else "-"}
        if listing_id is not None:
            keys["top_products"] = str(listing_id)
        for name, key in keys.items():
            groups[name][key][0] += 1
            groups[name][key][1] += amount
    for name in ("by_month", "by_industry", "by_region", "by_mode", "top_products"):
        points = []
        for key, (count, amount) in groups[name].items():
            zh = en = ""
            if name == "by_industry" and key != "-":
                zh, en = industry_name(key, "zh"), industry_name(key, "en")
            elif name == "by_region" and key != "-":
                zh, en = region_name(key, "zh"), region_name(key, "en")
            elif name == "top_products" and (product := facts.get(int(key))) is not None:
                zh, en = product.title_zh, product.title_en or product.title_zh
            points.append(Point(key, count, amount if count >= MIN_GROUP else None, zh, en))
        if name == "by_month":
            points.sort(key=lambda p: p.key)
        else:
            points.sort(key=lambda p: (-(p.amount_fen or 0), -p.count, p.key))
        stats.series[name] = points[:TOP_PRODUCTS] if name == "top_products" else points
    # The same rule for the headline: with one or two contracts in all, the total is their price.
    stats.turnover_fen = turnover if stats.transactions >= MIN_GROUP else None
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
