"""Public statistics: what a visitor sees move when a contract is signed and refunded."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.actor import Actor
from qianshu.exchange import payments
from qianshu.exchange.models import Contract
from qianshu.exchange.statistics import compute


def test_a_signed_contract_moves_the_figures_and_a_refund_lowers_the_turnover(
        db: Session, buyer: Actor, merchant: Actor, signed: Callable[..., Contract], fund: Any) -> None:
    before = compute(db)
    contract = signed()
    after = compute(db)
    assert after.transactions == before.transactions + 1
    assert after.turnover_fen is None  # one contract in all: its price is not public
    extra = [signed(), signed()]
    after = compute(db)
    assert after.turnover_fen == sum(c.price_fen for c in [contract, *extra])
    mode = {p.key: p for p in after.series["by_mode"]}[contract.delivery_mode]
    assert mode.count >= 3
    product = {p.key: p for p in after.series["top_products"]}[str(contract.listing_id)]
    assert product.label_zh  # named, not numbered
    assert product.amount_fen is None  # one contract: its price is not public
    fund(buyer, contract.price_fen)
    payments.pay(db, buyer, contract.id)
    payments.refund(db, merchant, contract.id, 1_000, "部分退款")
    assert compute(db).turnover_fen == (after.turnover_fen or 0) - 1_000
    busy = [p for p in compute(db).series["by_mode"] if p.count >= 3]
    assert busy
    assert busy[0].amount_fen is not None


def test_the_page_draws_charts_without_scripts_and_each_has_its_data(
        client: Any, db: Session, signed: Callable[..., Contract]) -> None:
    contract = signed()
    db.commit()
    page = client.get("/statistics")
    assert page.status_code == 200
    assert page.text.count("<svg") == 7
    assert 'href="/statistics/by_month.csv"' in page.text  # the shared chart (web/templates/charts.html)
    assert re.search(r"\d+ 笔</text>|金额不公开", page.text)  # each bar says its deals in the page's words
    assert "<script" not in page.text.split("<main", 1)[-1].split("</main>", 1)[0]
    assert re.search(r'id="transactions">\s*[1-9]', page.text)
    assert "成交额" in page.text
    client.cookies.set("qs_lang", "en")
    english = client.get("/statistics").text
    client.cookies.delete("qs_lang")
    assert "Turnover by delivery mode" in english
    assert ">download<" not in english  # the mode's label, not its key
    rows = list(csv.reader(io.StringIO(client.get("/statistics/by_mode.csv").text.lstrip("\ufeff"))))
    assert rows[0] == ["key", "label", "count", "amount_yuan"]
    assert contract.delivery_mode in [r[0] for r in rows[1:]]
    assert client.get("/statistics/nothing.csv").status_code == 404
    api = client.get("/api/v1/exchange/statistics").json()
    assert api["transactions"] >= 1
    assert set(api["series"]) >= {"by_month", "by_industry", "by_region", "by_mode", "top_products"}


def test_renewed_periods_and_paid_usage_bills_count_in_the_turnover(
        client: Any, db: Session, buyer: Actor, merchant: Actor, operator: Actor,
        signed: Callable[..., Contract], fund: Any) -> None:
    """Three subscriptions renewed once (one period partly refunded) and three metered contracts
    billed: the turnover, its parts and the month of the charges move by exactly that money."""
    from datetime import timedelta

    from qianshu.catalog.schemas import PlanIn
    from qianshu.core.actor import SYSTEM
    from qianshu.core.timeutil import utcnow
    from qianshu.exchange import refunds, renewals
    from qianshu.exchange.models import UsageBill
    from qianshu.exchange.settings import ExchangeSettings
    from tests.exchange.test_renewals import PRICE, _subscription

    before = client.get("/api/v1/exchange/statistics").json()
    was = {k: v or 0 for k, v in before["turnover_parts_fen"].items()}
    subscriptions = [_subscription(db, buyer, merchant, signed, fund) for _ in range(3)]
    ends = max(c.ends_at for c in subscriptions if c.ends_at is not None)
    assert renewals.renew_due(db, ExchangeSettings(), now=ends - timedelta(hours=2)) == (3, 0)
    for contract in subscriptions:
        renewals.deliver(db, merchant, contract.id, period=2)
        renewals.accept_delivery(db, buyer, contract.id, period=2)
    asked = refunds.request_refund(db, buyer, subscriptions[0].id, 1_500, "第二个月缺数据", period=2)
    refunds.answer_refund(db, merchant, asked.id, True)
    metered = [signed(plans=[PlanIn(kind="per_call", price="0.02", delivery_modes=["api"])]) for _ in range(3)]
    fund(buyer, 100_000)
    for n, contract in enumerate(metered):
        payments.record_usage(db, SYSTEM, contract.id, f"stats-{contract.id}", 1_000 * (n + 1))
    payments.bill_usage_due(db, ExchangeSettings(), now=utcnow() + timedelta(days=40))
    billed = sum(b.amount_fen for b in db.scalars(
        select(UsageBill).where(UsageBill.contract_id.in_([c.id for c in metered]))))
    assert billed == 2 * (1_000 + 2_000 + 3_000)  # 0.02 yuan a call
    db.commit()

    after = client.get("/api/v1/exchange/statistics").json()
    parts = after["turnover_parts_fen"]
    assert parts["prices"] - was["prices"] == 3 * PRICE  # a metered contract's unit price is no money
    assert parts["renewals"] - was["renewals"] == 3 * PRICE - 1_500
    assert parts["usage"] - was["usage"] == billed
    assert after["turnover_fen"] - (before["turnover_fen"] or 0) == 6 * PRICE - 1_500 + billed
    assert after["transactions"] - before["transactions"] == 6  # renewals and bills are not new deals
    month = {p["key"]: p for p in after["series"]["by_month"]}
    charged = db.scalars(select(UsageBill.charged_at).where(UsageBill.contract_id == metered[0].id)).one()
    assert charged is not None
    from qianshu.exchange.statistics import _month
    assert month[_month(charged)]["amount_fen"] is not None
    page = client.get("/statistics").text
    assert 'id="turnover-renewals"' in page
    assert "其中续期价款" in page
    assert "其中用量账单" in page
    rows = list(csv.reader(io.StringIO(client.get("/statistics/by_month.csv").text.lstrip("\ufeff"))))
    assert sum(float(r[3] or 0) for r in rows[1:]) * 100 <= after["turnover_fen"]


def test_everyone_sees_the_statistics_and_their_data(client: Any, db: Session, make: Any) -> None:
    """Public: a visitor, members of any organisation (approved or not) and staff see the same page
    and download the same series; a series that does not exist is a 404 for each of them."""
    from tests.accounts.test_portal import sign_in

    users = [None, make.user(), make.user(org_role="member", organisation=make.org(org_type="buyer")),
             make.user(organisation=make.org(status="suspended")), make.operator(),
             make.operator(staff_role="auditor")]
    db.flush()
    for user in users:
        client.cookies.clear()
        if user is not None:
            assert sign_in(client, user.email).status_code == 303
        page = client.get("/statistics")
        assert page.status_code == 200, user
        assert page.text.count('href="/statistics/') == 7
        data = client.get("/statistics/by_region.csv")
        assert (data.status_code, data.headers["content-type"]) == (200, "text/csv; charset=utf-8")
        assert data.headers["content-disposition"] == 'attachment; filename="qianshu-by_region.csv"'
        assert client.get("/statistics/nothing.csv").status_code == 404
