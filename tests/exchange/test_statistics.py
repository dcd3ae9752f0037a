"""Public statistics: what a visitor sees move when a contract is signed and refunded."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

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
