"""The refund request and the usage bills pages in Chromium, in Chinese and English: a settled
contract with the buyer's refund request waiting (buyer's and seller's view), and three months of
usage bills of a metered contract (paid, paid, retrying), made through the services on a database
of this test's own. Each page is looked at as test_every_page looks (no raw keys, no English on a
Chinese page, no page wider than the window) and saved as a screenshot to ``QIANSHU_SCREENSHOTS``
(or a temporary folder)."""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from qianshu.catalog import service as catalog
from qianshu.catalog.schemas import ListingIn, PlanIn
from qianshu.core.actor import SYSTEM
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.exchange import contracts, orders, payments, refunds
from qianshu.exchange.schemas import OrderIn
from qianshu.exchange.settings import ExchangeSettings
from qianshu.ledger import service as ledger
from qianshu.registry.models import Registration
from qianshu.web.app import create_app
from tests.browser.test_every_page import VIEWPORT, _problems
from tests.factories import TEST_PASSWORD, Factories
from tests.web.live import live_server

pytestmark = pytest.mark.browser
SCENARIO = "物流园区车辆调度与干线运输时效分析，用于优化配送路线。"


def _seed(database: Database) -> dict[str, Any]:
    """A seller with a one-time and a per-call plan; the buyer's settled one-time contract with a
    refund request pending; a per-call contract signed 100 days ago with three months of usage,
    whose third bill the buyer's wallet cannot pay (tried twice)."""
    with database.unit_of_work() as db:
        make = Factories(db)
        operator = make.actor(make.operator())
        seller_user = make.user(organisation=make.org(name="贵阳交通数据科技有限公司"))
        buyer_user = make.user(organisation=make.org(org_type="buyer", name="贵州黔运物流有限公司"))
        seller, buyer = make.actor(seller_user), make.actor(buyer_user)
        reg = Registration(holder_org_id=seller.org_id, status="issued",
                           number=f"QS-DR-2026-{uuid.uuid4().int % 10**6:06d}",
                           title_zh="贵阳市主干道实时路况", title_en="Guiyang arterial road traffic",
                           description_zh="", description_en="", industry_code="G54", division_code="520102",
                           update_frequency="daily", classification="general", personal_info="none", row_count=10,
                           column_count=2, issued_at=utcnow())
        db.add(reg)
        db.flush()
        listing = catalog.create_listing(db, seller, ListingIn(registration_id=reg.id))
        catalog.add_plan(db, seller, listing.id, PlanIn(kind="one_time", price="1200", delivery_modes=["download"]))
        catalog.add_plan(db, seller, listing.id, PlanIn(kind="per_call", price="0.05", delivery_modes=["api"]))
        catalog.submit_listing(db, seller, listing.id)
        catalog.review_listing(db, operator, listing.id, "approve")
        one_time, per_call = listing.plans[0].id, listing.plans[1].id
        # 1,200 for the one-time contract, then 600 and 475 of usage; the third month (750) is short
        ledger.deposit(db, operator, org_id=buyer.org_id or 0, amount_fen=3 * 120_000 + 60_000 + 47_500,
                       bank_reference=f"ICBC-{uuid.uuid4().hex[:10]}")
        order = orders.place_order(db, buyer, OrderIn(listing_id=listing.id, plan_id=one_time, purpose="research",
                                                      scenario=SCENARIO))
        settled = orders.accept_order(db, seller, order.id)
        contracts.sign(db, buyer, settled.id)
        contracts.sign(db, seller, settled.id)
        payments.pay(db, buyer, settled.id)
        payments.deliver(db, seller, settled.id)
        payments.accept_delivery(db, buyer, settled.id)
        refunds.request_refund(db, buyer, settled.id, 24_000, "约五分之一的记录缺少站点编号，申请按比例退款。")
        # two more settled contracts whose requests the seller refused: 20 days ago (too late to take
        # to the operators now) and just now (the button, and until when)
        refused = {}
        for name, ago in (("closed", 20), ("open", 0)):
            when = utcnow() - timedelta(days=ago + 1)
            order = orders.place_order(db, buyer, OrderIn(listing_id=listing.id, plan_id=one_time,
                                                          purpose="research", scenario=SCENARIO), at=when)
            contract = orders.accept_order(db, seller, order.id, at=when)
            contracts.sign(db, buyer, contract.id, at=when)
            contracts.sign(db, seller, contract.id, at=when)
            payments.pay(db, buyer, contract.id, at=when)
            payments.deliver(db, seller, contract.id, at=when)
            payments.accept_delivery(db, buyer, contract.id, at=when)
            asked = refunds.request_refund(db, buyer, contract.id, 30_000, "部分记录缺失，申请退还四分之一。", at=when)
            refunds.answer_refund(db, seller, asked.id, False, "数据已按合同完整交付。",
                                  at=utcnow() - timedelta(days=ago))
            refused[name] = contract.id
        start = utcnow() - timedelta(days=100)
        order = orders.place_order(db, buyer, OrderIn(listing_id=listing.id, plan_id=per_call, purpose="research",
                                                      scenario=SCENARIO), at=start)
        metered = orders.accept_order(db, seller, order.id, at=start)
        contracts.sign(db, buyer, metered.id, at=start)
        contracts.sign(db, seller, metered.id, at=start)
        for n, (days, calls) in enumerate(((1, 12_000), (32, 9_500), (63, 15_000))):
            payments.record_usage(db, SYSTEM, metered.id, f"api-{metered.id}-{n}", calls,
                                  at=start + timedelta(days=days))
        settings = ExchangeSettings()
        payments.bill_usage_due(db, settings)
        payments.bill_usage_due(db, settings)  # the short bill, tried again
    return {"buyer": buyer_user.email, "seller": seller_user.email, "settled": settled.id, "metered": metered.id,
            "refused": refused}


def _shots() -> Path:
    folder = Path(os.environ.get("QIANSHU_SCREENSHOTS") or Path(tempfile.gettempdir()) / "qianshu-shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _look(tab: Any, path: str, lang: str, name: str) -> str:
    tab.goto(f"/lang/{lang}")
    tab.goto(path)
    tab.wait_for_load_state()
    assert _problems(tab, lang) == [], (path, lang)
    tab.screenshot(path=str(_shots() / f"exchange-{name}-{lang}.png"), full_page=True)
    return str(tab.locator("main").inner_text() if tab.locator("main").count() else tab.inner_text("body"))


def test_refund_request_and_bills_pages_read_well(browser: Any, isolated_database: Database,
                                                  tmp_path: Path) -> None:
    seeded = _seed(isolated_database)
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False)
    with live_server(create_app(settings, database=isolated_database)) as url:
        for who in ("buyer", "seller"):
            context = browser.new_context(base_url=url, locale="zh-CN", viewport=VIEWPORT)
            tab = context.new_page()
            tab.goto("/sign-in")
            tab.fill("input[name=email]", seeded[who])
            tab.fill("input[name=password]", TEST_PASSWORD)
            tab.click("#sign-in-submit")
            tab.wait_for_load_state()
            contract = f"/exchange/contracts/{seeded['settled']}"
            zh = _look(tab, contract, "zh", f"refund-request-{who}")
            assert "退款申请" in zh
            assert "待卖方答复" in zh
            en = _look(tab, contract, "en", f"refund-request-{who}")
            assert "Waiting for the seller" in en  # the request's status as a label
            if who == "seller":
                assert tab.locator("#answer-refund").count() == 1
            else:
                assert tab.locator("#request-refund").count() == 0  # one open request at a time
                # a refusal past refund_escalation_days: no button, the page says when the time ended
                closed = f"/exchange/contracts/{seeded['refused']['closed']}"
                assert "提交交易所运营方裁决的期限已于" in _look(tab, closed, "zh", "refund-escalation-closed")
                assert tab.locator("#escalate-refund").count() == 0
                assert "ended on" in _look(tab, closed, "en", "refund-escalation-closed")
                fresh = f"/exchange/contracts/{seeded['refused']['open']}"
                assert "之前提交交易所运营方裁决" in _look(tab, fresh, "zh", "refund-escalation-open")
                assert tab.locator("#escalate-refund").count() == 1
                assert "May be taken to the exchange's operators until" in _look(tab, fresh, "en",
                                                                                "refund-escalation-open")
            zh = _look(tab, "/exchange/bills", "zh", f"bills-{who}")
            assert "用量账单" in zh
            assert tab.locator("tr[data-status=paid]").count() == 2
            assert tab.locator("tr[data-status=retrying]").count() == 1
            en = _look(tab, "/exchange/bills", "en", f"bills-{who}")
            assert "Retrying" in en
            context.close()
