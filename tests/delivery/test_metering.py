"""Downloads and Delta Sharing under a metered plan report their rows to the exchange's billing:
once per link however often it is fetched, once per query answer (tests/delivery/test_delta_sharing.py
with the official client), idempotent under concurrent reports, nothing for a plan that is not
metered; the parties see the running month's usage and estimate, then the bill."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from qianshu.accounts.models import User
from qianshu.catalog.schemas import PlanIn
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.audit import AuditEvent
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.delivery import links, metering
from qianshu.exchange import bills, payments
from qianshu.exchange import contracts as exchange_contracts
from qianshu.exchange import orders as exchange_orders
from qianshu.exchange.models import Contract, UsageBill, UsageReport
from qianshu.exchange.schemas import OrderIn
from qianshu.exchange.settings import ExchangeSettings
from tests.accounts.test_portal import sign_in
from tests.delivery.test_delta_sharing import committed_contract
from tests.delivery.test_links import _fetch, contract_of  # noqa: F401 - fixture
from tests.delivery.test_watermark import product_table
from tests.exchange.conftest import fund  # noqa: F401 - fixture

ROWS = 2_345
# ¥2.35 per 1,000 rows: 2,345 rows cost 551.075 fen, billed pro rata with the part of a fen rounded
# up (as the data API's rows are: payments.usage_price), 552 fen; two copies 1,102.15, so 1,103.
METERED = [PlanIn(kind="per_1000_rows", price="2.35", delivery_modes=["download", "delta_sharing"])]


@pytest.fixture
def metered(db: Session, settings: Settings, listed: Callable[..., Any], merchant: Actor, buyer: Actor,
            tmp_path: Path) -> Contract:
    """A per-1,000-rows contract in force (nothing is paid before use) delivered by download."""
    path = tmp_path / "metered.parquet"
    pq.write_table(product_table(ROWS), path)
    digest, size = open_blob_store(settings).put_file(path)
    product = listed(merchant, parquet_sha256=digest, parquet_size=size, plans=METERED)
    order = exchange_orders.place_order(db, buyer, OrderIn(listing_id=product.id, plan_id=product.plans[0].id,
                                                           purpose="research", scenario="按行计费的下载测试场景",
                                                           delivery_mode="download"))
    contract = exchange_orders.accept_order(db, merchant, order.id)
    exchange_contracts.sign(db, buyer, contract.id)
    exchange_contracts.sign(db, merchant, contract.id)
    return contract


def _reports(db: Session, contract_id: int) -> list[UsageReport]:
    return list(db.scalars(select(UsageReport).where(UsageReport.contract_id == contract_id)
                           .order_by(UsageReport.id)))


def test_a_metered_download_bills_its_rows_once_per_link(client: Any, db: Session, settings: Settings,
                                                          buyer: Actor, merchant: Actor, metered: Contract,
                                                          fund: Callable[[Actor, int], None],  # noqa: F811
                                                          bearer: Any) -> None:
    link = links.issue_link(db, buyer, settings, metered.id, "csv")
    db.flush()
    for _again in range(3):  # a retry, a second click: the same copy
        assert _fetch(client, settings, link).status_code == 200
    [report] = _reports(db, metered.id)
    assert report.units == ROWS
    assert report.report_id.startswith(f"download:{link.id}:")
    usages = [e.detail["usage"] for e in db.scalars(select(AuditEvent).where(AuditEvent.action == "delivery.download"))]
    assert usages == ["billed"] * 3
    # A new link is a new copy.
    second = links.issue_link(db, buyer, settings, metered.id, "parquet")
    db.flush()
    assert _fetch(client, settings, second).status_code == 200
    assert [r.units for r in _reports(db, metered.id)] == [ROWS, ROWS]

    # Before the month ends, both parties see the running usage and its estimate (API and page).
    for who in (buyer, merchant):
        [month] = client.get(f"/api/v1/exchange/contracts/{metered.id}/usage",
                             headers=bearer(db.get_one(User, who.user_id))).json()
        assert (month["units"], month["reports"], month["estimated_fen"], month["closed"]) == (2 * ROWS, 2, 1103, False)
    client.cookies.clear()
    sign_in(client, db.get_one(User, buyer.user_id).email)
    page = client.get(f"/exchange/contracts/{metered.id}").text  # Chinese, the default
    assert 'id="usage-so-far"' in page
    for shown in ("4,690", "预计费用", "¥11.03", "进行中：月末后出账"):
        assert shown in page
    assert "按月用量账单结算" in page.split('id="payment-status">', 1)[1][:60]  # not "awaiting payment"
    client.cookies.clear()
    sign_in(client, db.get_one(User, merchant.user_id).email)
    client.get("/lang/en")
    page = client.get(f"/exchange/contracts/{metered.id}").text
    for shown in ("Usage so far", "Estimated charge", "4,690 rows", "Running: billed after the month ends",
                  "Paid by monthly usage bills (below)"):
        assert shown in page

    # After the month: one bill, charged, and this month's usage starts again from nothing.
    fund(buyer, 2_000)
    later = utcnow() + timedelta(days=32)
    assert payments.bill_usage_due(db, ExchangeSettings(), later) == (1, 0)
    db.flush()
    [bill] = bills.contract_bills(db, buyer, metered.id)
    assert (bill.units, bill.amount_fen, bill.status) == (2 * ROWS, 1103, "paid")
    [month] = bills.usage_so_far(db, merchant, metered.id, later)
    assert (month.units, month.estimated_fen, month.closed) == (0, 0, False)


def test_a_one_time_contract_reports_nothing(client: Any, db: Session, settings: Settings, buyer: Actor,
                                              contract_of: Callable[..., Contract]) -> None:  # noqa: F811
    contract = contract_of()
    link = links.issue_link(db, buyer, settings, contract.id, "csv")
    db.flush()
    assert _fetch(client, settings, link).status_code == 200
    assert _reports(db, contract.id) == []
    assert bills.usage_so_far(db, buyer, contract.id) == []
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "delivery.download"))
    assert event.detail["usage"] == metering.UNMETERED


def _waiting_on_a_lock(database: Database, deadline: float) -> None:
    """PostgreSQL: until another transaction waits on a row lock (the second report's insert waiting
    for the first's uncommitted row). SQLite has one writer: the second waits to begin, nothing to do."""
    import time

    if database.engine.dialect.name != "postgresql":
        return
    with database.engine.connect() as conn:
        while time.monotonic() < deadline:
            if conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                 "AND datname = current_database()")).scalar():
                return
            conn.rollback()
            time.sleep(0.01)


def test_concurrent_reports_of_one_delivery_bill_once(isolated_database: Database, settings: Settings,
                                                      tmp_path: Path) -> None:
    import time

    trade = committed_contract(isolated_database, settings, tmp_path, "download", rows=1_000, kind="per_1000_rows")
    report_id = metering.download_report_id(1, tmp_path / "data")
    first_flushed, outcomes, errors = threading.Event(), [], []

    def first() -> None:
        try:
            with isolated_database.unit_of_work() as db:
                outcomes.append(metering.report_delivery(db, trade["contract_id"], report_id, 1_000))
                first_flushed.set()
                _waiting_on_a_lock(isolated_database, time.monotonic() + 10)
        except Exception as exc:
            errors.append(exc)
            first_flushed.set()

    def second() -> None:
        first_flushed.wait(10)
        try:
            with isolated_database.unit_of_work() as db:
                outcomes.append(metering.report_delivery(db, trade["contract_id"], report_id, 1_000))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    assert outcomes == ["billed", "billed"]
    with isolated_database.unit_of_work(write=False) as db:
        assert db.scalar(select(func.count(UsageReport.id)).where(UsageReport.report_id == report_id)) == 1
        assert db.scalar(select(func.count(UsageBill.id))) == 0
        assert [m.units for m in bills.usage_so_far(db, trade["buyer"], trade["contract_id"])] == [1_000]


def test_a_report_without_a_metered_plan_or_rows_reports_nothing(db: Session, metered: Contract,
                                                                  contract_of: Callable[..., Contract]) -> None:  # noqa: F811
    assert metering.report_delivery(db, contract_of().id, "download:9:x", 10) == metering.UNMETERED
    assert metering.report_delivery(db, metered.id, "sharing:1:none", 0) == "nothing"
    assert _reports(db, metered.id) == []
    assert payments.record_usage(db, SYSTEM, metered.id, "download:9:y", 5).units == 5
