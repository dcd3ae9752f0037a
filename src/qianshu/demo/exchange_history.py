"""Two years of the demo exchange's trading, made through the exchange's services.

Every trade of the history goes the way a user's would: a buyer orders a plan
(``orders.place_order``), the seller accepts (``accept_order``), both accept the contract
(``sign``), the buyer pays into escrow (``payments.pay``), the seller delivers, the buyer
accepts and the contract settles (``accept_delivery``), each step with the time it happened
passed as the services' ``at`` (their clock, now by default). So the history has its timeline,
its ledger transfers and its public-log leaves like any trade; only the dates are in the past.

The volume follows a working exchange's year: it grows over the two years, dips in the month of
the Spring Festival (春节), and peaks at the year's end (budgets spent in November and December).
A few percent of the trades are refunded in part or in full before settlement, and three are
disputed and decided by the operator. The buyers are a dozen organisations of the province,
approved, whose wallets the operator funds each quarter by deposits with bank references.

``seed_history(database, settings, contracts=…)`` commits every ``BATCH`` trades; tests pass a
small ``contracts``. The demo runs it after the other seeding steps (see ``exchange_seed``).
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from qianshu.accounts.models import Organisation, User
from qianshu.accounts.passwords import hash_password
from qianshu.catalog.models import Listing
from qianshu.catalog.policy import terms_from_odrl
from qianshu.core import inbox
from qianshu.core.actor import Actor
from qianshu.core.db import Database
from qianshu.core.errors import QianshuError
from qianshu.core.identifiers import uscc_check_char
from qianshu.core.inbox import Notification
from qianshu.core.jobs import Job, JobContext, Progress
from qianshu.core.timeutil import SHANGHAI, utcnow
from qianshu.demo.registrations import actor_of
from qianshu.exchange import contracts as exchange_contracts
from qianshu.exchange import orders, payments
from qianshu.exchange import trades as trades_read
from qianshu.exchange.models import Contract, Order
from qianshu.exchange.schemas import OrderIn
from qianshu.ledger import service as ledger

log = logging.getLogger(__name__)
HISTORY_CONTRACTS = 3000
# Trades per transaction: short, because the history is made while the portal is in use (SQLite
# has one writer at a time). Ten per transaction held the lock long enough, on a loaded machine,
# for a sign-in or a page's write to give up (503); two keep each hold to tens of milliseconds.
BATCH = 2
PAUSE = 0.1  # seconds between two batches: the portal's and the worker's own writes get their turn
PREPAID = ("one_time", "monthly", "yearly")
# The Spring Festival (lunar new year's day) of the years the history may cover.
SPRING_FESTIVAL = {2023: date(2023, 1, 22), 2024: date(2024, 2, 10), 2025: date(2025, 1, 29),
                   2026: date(2026, 2, 17), 2027: date(2027, 2, 6), 2028: date(2028, 1, 26),
                   2029: date(2029, 2, 13), 2030: date(2030, 2, 3)}
# (key, name, English name, division code): the history's buyers.
BUYERS = (
    ("hist_grid", "贵州电网有限责任公司数字化部", "Guizhou Power Grid Digital Department", "520103"),
    ("hist_bus", "贵阳公共交通集团有限公司", "Guiyang Public Transport Group", "520102"),
    ("hist_tobacco", "贵州中烟工业有限责任公司", "China Tobacco Guizhou Industrial", "520111"),
    ("hist_liquor", "遵义酱香酒业数字营销中心", "Zunyi Maotai-flavour Liquor Digital Marketing", "520302"),
    ("hist_insurer", "黔城财产保险股份有限公司", "Qiancheng Property Insurance", "520115"),
    ("hist_telecom", "贵州数联通信技术有限公司", "Guizhou Shulian Telecom Technology", "520115"),
    ("hist_tourism", "黔东南文旅发展集团", "Qiandongnan Culture and Tourism Group", "522601"),
    ("hist_agri", "安顺山地农业合作联社", "Anshun Mountain Agriculture Cooperative Union", "520402"),
    ("hist_uni", "贵州大学公共大数据实验室", "Guizhou University Public Big Data Laboratory", "520111"),
    ("hist_retail", "合力超市（贵州）连锁有限公司", "Heli Supermarkets (Guizhou)", "520102"),
    ("hist_credit", "贵州普惠征信服务有限公司", "Guizhou Inclusive Credit Reference Services", "520115"),
    ("hist_city", "六盘水市城市运行管理中心", "Liupanshui City Operations Centre", "520201"),
)
SCENARIOS = (
    "用于月度经营分析与需求预测，辅助制定采购与排班计划。",
    "接入内部风控模型，评估区域性风险并调整授信策略。",
    "城市运行监测大屏的数据源之一，按日更新关键指标。",
    "营销选址研究：比较各区县的客流、消费与人口分布。",
    "科研项目数据支撑：分析区域交通、气象与出行的关系。",
)
REFUND_REASONS = ("交付数据缺少约定字段，经协商部分退款。", "部分时段数据延迟交付，按约定退还相应费用。")
CANCEL_REASON = "买方业务调整，双方协商取消并全额退款。"


@dataclass
class Trade:
    buyer: str
    listing_id: int
    plan_id: int
    purpose: str
    mode: str
    price_fen: int
    seller_org_id: int
    ordered: datetime
    fate: str = "settled"  # settled | partial_refund | full_refund | dispute_release | dispute_partial | dispute_refund


@dataclass
class HistoryReport:
    contracts: int = 0
    settled: int = 0
    refunds: int = 0
    disputes: int = 0
    in_flight: int = 0
    deposits: int = 0
    skipped: int = 0  # trades of products delisted (transferred, sold) while the history ran
    seconds: float = 0.0
    by_month: dict[str, int] = field(default_factory=dict)


def month_weights(start: date, months: int) -> list[tuple[date, float]]:
    """A working exchange's months: growth over the period, a dip in the Spring Festival's month
    (and a smaller one in the month after, when it falls late), a peak at the year's end."""
    out = []
    year, month = start.year, start.month
    for i in range(months):
        weight = 0.55 + 0.9 * i / max(months - 1, 1)
        festival = SPRING_FESTIVAL.get(year)
        if festival is not None and festival.month == month:
            weight *= 0.45
        elif festival is not None and festival.month + 1 == month and festival.day > 10:
            weight *= 0.8
        weight *= {11: 1.25, 12: 1.55, 6: 1.1, 8: 0.9}.get(month, 1.0)
        out.append((date(year, month, 1), weight))
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return out


def _working_moment(day: date, rng: random.Random) -> datetime:
    """A moment of a working day in Guiyang (weekends are quieter), in UTC."""
    while day.weekday() >= 5 and rng.random() < 0.8:
        day += timedelta(days=1)
    local = datetime(day.year, day.month, day.day, rng.randint(9, 17), rng.randint(0, 59), rng.randint(0, 59),
                     tzinfo=SHANGHAI)
    return local.astimezone(UTC)


Offer = tuple[int, int, int, str, str, int]  # listing, seller organisation, plan, purpose, delivery mode, price


def _offers(db: Session) -> list[Offer]:
    """Every prepaid priced plan of a listed product, with a purpose its policy permits."""
    found = []
    for listing in db.scalars(select(Listing).where(Listing.status == "listed").order_by(Listing.id)):
        for plan in listing.plans:
            purposes = terms_from_odrl(plan.policy or {}).purposes
            if plan.active and plan.kind in PREPAID and (plan.price_fen or 0) > 0 and purposes:
                mode = plan.delivery_modes[0] if plan.delivery_modes else "download"
                found.append((listing.id, listing.org_id, plan.id, purposes[0], mode, int(plan.price_fen or 0)))
    return found


def _buyers(db: Session) -> dict[str, Actor]:
    """The history's buyer organisations (approved, each with an administrator)."""
    password = None
    for n, (key, name, name_en, division) in enumerate(BUYERS, start=1):
        email = f"{key.replace('_', '.')}@qianshu.demo"
        if db.scalar(select(User.id).where(User.email == email)) is None:
            password = password or hash_password(f"history-{random.random()}")  # nobody signs in as them
            body = f"91{division}MA6X{n:05d}"
            org = Organisation(name=name, name_en=name_en, org_type="buyer", uscc=body + uscc_check_char(body),
                               division_code=division, contact_name="数据采购部", contact_email=f"contact@{key}.demo",
                               contact_phone=f"0851-8777{n:04d}", status="approved")
            org.users.append(User(email=email, display_name="数据采购部", password_hash=password, org_role="admin"))
            db.add(org)
            db.flush()
    return {key: actor_of(db, f"{key.replace('_', '.')}@qianshu.demo") for key, *_ in BUYERS}


def plan_trades(offers: list[Offer], buyers: list[str], contracts: int,
                now: datetime, rng: random.Random) -> list[Trade]:
    """``contracts`` trades over the two years before ``now``, oldest first."""
    first = (now - timedelta(days=730)).astimezone(SHANGHAI).date().replace(day=1)
    weights = month_weights(first, 24)
    total = sum(w for _m, w in weights)
    trades: list[Trade] = []
    last = now - timedelta(days=1)
    for month, weight in weights:
        count = round(contracts * weight / total)
        days = ((month.replace(day=28) + timedelta(days=4)).replace(day=1) - month).days
        for _ in range(count):
            ordered = _working_moment(month + timedelta(days=rng.randrange(days)), rng)
            if ordered >= last:
                ordered = last - timedelta(hours=rng.randint(1, 400))
            # Half the orders go to the best sellers (a long tail), half anywhere.
            pick = (min(int(rng.paretovariate(1.2)) - 1, len(offers) - 1) if rng.random() < 0.5
                    else rng.randrange(len(offers)))
            listing_id, seller_id, plan_id, purpose, mode, price = offers[pick]
            fate = "settled"
            roll = rng.random()
            if roll < 0.03:
                fate = "partial_refund"
            elif roll < 0.04:
                fate = "full_refund"
            trades.append(Trade(buyers[rng.randrange(len(buyers))], listing_id, plan_id, purpose, mode, price,
                                seller_id, ordered, fate))
    trades.sort(key=lambda t: t.ordered)
    # Three disputes, decided three ways, spread over the history.
    for k, fate in enumerate(("dispute_partial", "dispute_release", "dispute_refund")):
        if trades:
            trades[min(len(trades) - 1, (k + 1) * len(trades) // 4)].fate = fate
    return trades


def _quarter(moment: datetime) -> tuple[int, int]:
    local = moment.astimezone(SHANGHAI)
    return local.year, (local.month - 1) // 3 + 1


def seed_history(database: Database, contracts: int = HISTORY_CONTRACTS, *, now: datetime | None = None,
                 seed: int = 20241201, progress: Progress | None = None,
                 still_mine: Callable[[], bool] | None = None) -> HistoryReport:
    """Make ``contracts`` trades over the two years before ``now``. Resumable: the plan depends on
    ``contracts``, ``now`` and ``seed`` only, every ``BATCH`` trades commit together, and a second
    run skips the trades the history buyers' orders show were made. ``still_mine``, asked between
    batches, stops the run when it returns False (the worker stopping gave the job back). A trade
    the exchange refuses (its product was delisted meanwhile) is left out and counted in
    ``skipped``; a resumed run after such trades may then leave out a few more."""
    started = time.monotonic()
    now = now or utcnow()
    rng = random.Random(seed)
    report = HistoryReport()
    with database.unit_of_work() as db:
        buyers = _buyers(db)
        buyer_ids = {key: actor.org_id or 0 for key, actor in buyers.items()}
        offers = [o for o in _offers(db) if o[1] not in buyer_ids.values()]
        sellers = {org_id: _seller(db, org_id) for org_id in {o[1] for o in offers}}
        done = int(db.scalar(select(func.count(Order.id)).where(Order.buyer_org_id.in_(buyer_ids.values()))) or 0)
    offers = [o for o in offers if sellers.get(o[1]) is not None]
    if not offers or contracts <= 0:
        return report
    trades = plan_trades(offers, list(buyers), contracts, now, rng)
    # What each buyer spends each quarter: the operator's deposit at the quarter's start covers it.
    spend: dict[tuple[tuple[int, int], str], int] = defaultdict(int)
    for trade in trades:
        spend[(_quarter(trade.ordered), trade.buyer)] += trade.price_fen
    funded = {_quarter(t.ordered) for t in trades[:done]}  # made with the trades before them
    # Each trade draws its own times (so that a resumed run makes the same trades as a whole one).
    for start in range(done, len(trades), BATCH):
        with database.unit_of_work() as db:
            operator = actor_of(db, "operator@qianshu.demo")
            subjects: list[int] = []
            for n, trade in enumerate(trades[start:start + BATCH], start=start):
                quarter = _quarter(trade.ordered)
                if quarter not in funded:
                    funded.add(quarter)
                    report.deposits += _fund(db, operator, buyers, buyer_ids, spend, quarter, trade.ordered)
                try:
                    with db.begin_nested():
                        subjects.append(_trade(db, buyers[trade.buyer], sellers[trade.seller_org_id] or operator,
                                               operator, trade, now, random.Random(seed * 100_003 + n), report))
                except QianshuError as exc:
                    # A demo user may transfer or sell a product while its history is made (the demo's
                    # pledged asset, its transfers): its later trades are left out, the rest go on.
                    report.skipped += 1
                    log.info("demo history: trade %d left out (%s)", n, exc.render("en"))
            _read(db, [*buyers.values(), *(a for a in sellers.values() if a is not None)], subjects)
        if progress is not None:
            progress(min(start + BATCH, len(trades)) / len(trades), "trades")
        time.sleep(PAUSE)
        if still_mine is not None and not still_mine():
            report.seconds = time.monotonic() - started
            return report
    with database.unit_of_work() as db:
        # Contracts whose term passed end as the periodic task would end them.
        while sum(exchange_contracts.expire_due(db, now=now)):
            db.flush()
        trades_read.recount_sales(db)  # the products' counts now, not at the schedule's next run
        _read(db, [*buyers.values(), *(a for a in sellers.values() if a is not None)],
              select(Order.id).where(Order.buyer_org_id.in_(buyer_ids.values())))
    report.seconds = time.monotonic() - started
    return report


def _read(db: Session, actors: list[Actor], order_ids: list[int] | Select[int]) -> None:
    """The history's notifications are old news: marked read (the demo's own trades' are not)."""
    ids = list(db.scalars(select(Notification.id).where(
        Notification.capability == "exchange", Notification.read_at.is_(None),
        or_(and_(Notification.subject_type == "order", Notification.subject_id.in_(order_ids)),
            and_(Notification.subject_type == "contract", Notification.subject_id.in_(
                select(Contract.id).where(Contract.order_id.in_(order_ids))))))))
    if ids:
        for actor in actors:
            inbox.mark_read(db, actor, ids, capability="exchange")


def run_history_job(context: JobContext, job_id: int, progress: Progress) -> None:
    """The job ``exchange.demo_history``: the demo's history, made after its portal is up."""
    with context.database.unit_of_work(write=False) as db:
        job = db.get_one(Job, job_id)
        payload, attempt = dict(job.payload), job.attempts

    def still_mine() -> bool:
        """The run still owns its job (a stopping worker gives it back; the next run resumes)."""
        with context.database.unit_of_work(write=False) as db:
            row = db.get_one(Job, job_id)
            return row.status == "running" and row.attempts == attempt

    report = seed_history(context.database, int(payload["contracts"]), now=datetime.fromisoformat(payload["now"]),
                          progress=progress, still_mine=still_mine)
    log.info("demo history: %s contracts in %.1f s", report.contracts, report.seconds)


def _fund(db: Session, operator: Actor, buyers: dict[str, Actor], buyer_ids: dict[str, int],
          spend: dict[tuple[tuple[int, int], str], int], quarter: tuple[int, int], moment: datetime) -> int:
    year, q = quarter
    local = datetime(year, 3 * (q - 1) + 1, 1, 10, tzinfo=SHANGHAI).astimezone(UTC)
    at = min(local, moment - timedelta(minutes=5))
    made = 0
    for key in buyers:
        needed = spend.get((quarter, key), 0)
        if needed:
            amount = -(-needed * 11 // 10 // 1_000_000) * 1_000_000  # 10 % more, rounded up to 10,000 yuan
            ledger.deposit(db, operator, org_id=buyer_ids[key], amount_fen=amount,
                           bank_reference=f"{year}Q{q}-{key.upper()}", memo="季度预存", at=at)
            made += 1
    return made


def _seller(db: Session, org_id: int) -> Actor | None:
    email = db.scalar(select(User.email).where(User.org_id == org_id, User.org_role == "admin").order_by(User.id))
    return actor_of(db, email) if email else None


def _trade(db: Session, buyer: Actor, seller: Actor, operator: Actor, trade: Trade, now: datetime,
           rng: random.Random, report: HistoryReport) -> int:
    """One trade, step by step, each at its time; a step whose time has not come yet is not made.
    Returns the order's id."""
    at = trade.ordered
    order = orders.place_order(db, buyer, OrderIn(listing_id=trade.listing_id, plan_id=trade.plan_id,
                                                  purpose=trade.purpose, delivery_mode=trade.mode,
                                                  scenario=SCENARIOS[trade.listing_id % len(SCENARIOS)]), at=at)
    _steps(db, buyer, seller, operator, trade, order.id, now, rng, report)
    return order.id


def _steps(db: Session, buyer: Actor, seller: Actor, operator: Actor, trade: Trade, order_id: int, now: datetime,
           rng: random.Random, report: HistoryReport) -> None:
    at = trade.ordered

    def later(low_hours: float, high_hours: float) -> bool:
        nonlocal at
        at = at + timedelta(hours=rng.uniform(low_hours, high_hours))
        return at < now

    if not later(1, 30):
        report.in_flight += 1
        return
    contract = orders.accept_order(db, seller, order_id, at=at)
    exchange_contracts.sign(db, seller, contract.id, at=at + timedelta(minutes=rng.randint(1, 90)))
    if not later(2, 48):
        report.in_flight += 1
        return
    exchange_contracts.sign(db, buyer, contract.id, at=at)
    report.contracts += 1
    month = at.astimezone(SHANGHAI).strftime("%Y-%m")
    report.by_month[month] = report.by_month.get(month, 0) + 1
    if not later(1, 72):
        return
    payments.pay(db, buyer, contract.id, at=at)
    if trade.fate == "full_refund":
        if later(2, 48):
            payments.refund(db, seller, contract.id, trade.price_fen, CANCEL_REASON, at=at)
            report.refunds += 1
        return
    if not later(4, 96):
        return
    payments.deliver(db, seller, contract.id, at=at)
    if not later(6, 120):
        return
    if trade.fate == "partial_refund":
        payments.refund(db, seller, contract.id, trade.price_fen * rng.choice((10, 20, 30)) // 100,
                        REFUND_REASONS[rng.randrange(len(REFUND_REASONS))], at=at)
        report.refunds += 1
        if not later(1, 48):
            return
    if trade.fate.startswith("dispute"):
        dispute = payments.raise_dispute(db, buyer, contract.id, "交付数据与合同约定的覆盖范围不一致。", at=at)
        report.disputes += 1
        if not later(48, 240):
            return
        decision = {"dispute_partial": "partial_refund", "dispute_release": "release",
                    "dispute_refund": "refund"}[trade.fate]
        payments.decide_dispute(db, operator, dispute.id, decision,
                                {"partial_refund": "核实后部分数据不符合约定，退还百分之四十，其余结算。",
                                 "release": "核实后交付符合合同约定，款项结算给卖方。",
                                 "refund": "核实后交付不符合合同约定，全额退还买方。"}[decision],
                                refund_fen=trade.price_fen * 40 // 100, at=at)
        report.settled += decision != "refund"
        return
    payments.accept_delivery(db, buyer, contract.id, at=at)
    report.settled += 1
