"""The refund request and the usage bills as users meet them: the contract page's buttons for the
buyer, the seller and an operator, in Chinese and English; the bills page, its CSV and the API,
seen by the two parties and operators only."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from qianshu.accounts.models import User
from qianshu.catalog.schemas import PlanIn
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.l10n import format_datetime
from qianshu.core.timeutil import local_display, utcnow
from qianshu.exchange import payments, refunds
from qianshu.exchange.models import Contract
from qianshu.exchange.settings import ExchangeSettings
from qianshu.ledger import service as ledger
from tests.accounts.test_portal import csrf, sign_in
from tests.factories import Factories

PRICE = 120_000


def _as(client: Any, db: Session, who: Actor) -> None:
    client.cookies.clear()
    sign_in(client, db.get_one(User, who.user_id).email)


def _post(client: Any, url: str, data: dict[str, Any]) -> Any:
    return client.post(url, data={"csrf_token": csrf(client, url.rsplit("/", 1)[0]), **data}, follow_redirects=False)


def _settled(db: Session, signed: Callable[..., Contract], fund: Any, buyer: Actor, merchant: Actor,
             at: datetime | None = None) -> Contract:
    """A contract of a fresh product paid, delivered and accepted (at ``at``, else now)."""
    contract = signed()
    fund(buyer, PRICE)
    payments.pay(db, buyer, contract.id, at=at)
    payments.deliver(db, merchant, contract.id, at=at)
    payments.accept_delivery(db, buyer, contract.id, at=at)
    db.flush()
    return contract


def test_refund_request_in_the_portal(client: Any, db: Session, buyer: Actor, merchant: Actor, operator: Actor,
                                      signed: Callable[..., Contract], fund: Any) -> None:
    contract = _settled(db, signed, fund, buyer, merchant)
    url = f"/exchange/contracts/{contract.id}"
    _as(client, db, buyer)
    page = client.get(url).text
    assert 'id="request-refund"' in page
    assert "向卖方申请退款" in page
    too_much = _post(client, f"{url}/request-refund", {"amount": "1300", "reason": "数据缺失"})
    assert too_much.status_code == 422
    assert 'id="contract-error"' in too_much.text
    assert _post(client, f"{url}/request-refund", {"amount": "400", "reason": "三分之一记录缺少站点编号"}
                 ).status_code == 303
    page = client.get(url).text
    assert "待卖方答复" in page
    assert 'id="request-refund"' not in page  # its only item (the price) has an open request
    client.get("/lang/en")
    english = client.get(url).text
    assert '<td class="refund-status">Waiting for the seller' in english  # its status as a label
    assert "Refund requests" in english
    # the seller sees it waiting and refuses it, saying why
    _as(client, db, merchant)
    client.get("/lang/zh")
    assert "1 项退款申请待答复" in client.get("/exchange/trades").text
    page = client.get(url).text
    request_id = re.search(r'name="request_id" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    no_reason = _post(client, f"{url}/answer-refund", {"request_id": request_id, "answer": "refuse", "reason": ""})
    assert no_reason.status_code == 422
    assert _post(client, f"{url}/answer-refund", {"request_id": request_id, "answer": "refuse",
                                                  "reason": "数据已按约交付"}).status_code == 303
    twice = _post(client, f"{url}/answer-refund", {"request_id": request_id, "answer": "accept", "reason": ""})
    assert twice.status_code == 409
    assert "这项退款申请处于“卖方已拒绝”状态" in twice.text
    # the buyer takes it to the operators; an operator grants part of it
    _as(client, db, buyer)
    assert _post(client, f"{url}/escalate-refund", {"request_id": request_id}).status_code == 303
    _as(client, db, operator)
    page = client.get(url).text
    assert 'id="decide-refund"' in page
    assert _post(client, f"{url}/decide-refund", {"request_id": request_id, "decision": "grant", "refund": "200",
                                                  "reason": "核实部分缺失，退还一半"}).status_code == 303
    page = client.get(url).text
    assert "运营方裁定退款" in page
    assert "核实部分缺失，退还一半" in page
    db.refresh(contract)
    assert (contract.refunded_fen, ledger.balance(db, ledger.wallet_of(db, buyer.org_id or 0))) == (20_000, 20_000)
    timeline = client.get(f"/api/v1/exchange/contracts/{contract.id}/refund-requests").json()
    assert [r["status"] for r in timeline] == ["granted"]


def test_usage_bills_page_csv_and_api(client: Any, db: Session, buyer: Actor, merchant: Actor, operator: Actor,
                                      signed: Callable[..., Contract], fund: Any, make: Factories,
                                      bearer: Any) -> None:
    contract = signed(plans=[PlanIn(kind="per_call", price="2", delivery_modes=["api"])])
    payments.record_usage(db, SYSTEM, contract.id, "calls-2026-10", 300)  # 300 calls at ¥2: ¥600
    later, settings = utcnow() + timedelta(days=32), ExchangeSettings()
    assert payments.bill_usage_due(db, settings, later) == (0, 1)
    db.flush()
    _as(client, db, buyer)
    page = client.get("/exchange/bills").text
    assert 'data-status="short"' in page
    assert "余额不足" in page
    assert contract.number in page
    assert payments.bill_usage_due(db, settings, later) == (0, 1)
    db.flush()
    assert 'data-status="retrying"' in client.get("/exchange/bills").text
    fund(buyer, 100_000)  # the wallet can pay now
    assert payments.bill_usage_due(db, settings, later) == (1, 0)
    db.flush()
    page = client.get("/exchange/bills").text
    assert 'data-status="paid"' in page
    transfer = re.search(rf'href="/exchange/contracts/{contract.id}#transfer-(\d+)"', page)
    assert transfer, page
    assert f'id="transfer-{transfer.group(1)}"' in client.get(f"/exchange/contracts/{contract.id}").text
    body = client.get("/exchange/bills.csv").content.decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][:3] == ["合同编号", "身份", "月份"], rows[0]
    assert rows[1][0] == contract.number
    assert (rows[1][6], rows[1][7], rows[1][9]) == ("60000", "600.00", "已支付")
    assert rows[1][1] == "买方"
    client.get("/lang/en")
    english = client.get("/exchange/bills").text
    assert "Usage bills" in english
    # the side, the plan and the bill's status read as labels in the page and the export
    assert "<td>Buyer</td>" in english
    assert "<td>Per API call</td>" in english
    assert '<td class="bill-paid">Paid</td>' in english
    rows = list(csv.reader(io.StringIO(client.get("/exchange/bills.csv").content.decode("utf-8").lstrip("\ufeff"))))
    assert (rows[1][1], rows[1][9]) == ("Buyer", "Paid")
    # the seller sees the same bill from its side; an operator sees every organisation's
    _as(client, db, merchant)
    assert contract.number in client.get("/exchange/bills").text
    _as(client, db, operator)
    assert contract.number in client.get("/exchange/bills?every=1").text
    # a third organisation sees none of it
    stranger = make.user(organisation=make.org(org_type="buyer"))
    client.cookies.clear()
    sign_in(client, stranger.email)
    assert contract.number not in client.get("/exchange/bills").text
    assert client.get("/exchange/bills?every=1").status_code == 403
    api = client.get("/api/v1/exchange/bills", headers=bearer(db.get_one(User, buyer.user_id))).json()
    assert [(b["number"], b["side"], b["status"], b["amount_fen"]) for b in api] == [
        (contract.number, "buyer", "paid", 60_000)]
    assert api[0]["transfer_id"] == int(transfer.group(1))
    assert client.get(f"/api/v1/exchange/contracts/{contract.id}/bills", headers=bearer(stranger)).status_code == 404
    assert client.get("/api/v1/exchange/bills", headers=bearer(stranger)).json() == []


def test_the_escalation_window_in_the_portal_and_the_api(client: Any, db: Session, buyer: Actor, merchant: Actor,
                                                          signed: Callable[..., Contract], fund: Any,
                                                          bearer: Any) -> None:
    """A refusal older than ``refund_escalation_days``: no button, the page says when the time
    ended, the portal's and the API's escalation get a bilingual 409; a fresh refusal of the same
    item has the button and says until when."""
    days, now = ExchangeSettings().refund_escalation_days, utcnow()
    long_ago = now - timedelta(days=days + 3)
    contract = _settled(db, signed, fund, buyer, merchant, at=long_ago)
    old = refunds.request_refund(db, buyer, contract.id, 30_000, "部分记录缺失", at=long_ago)
    refused = now - timedelta(days=days, minutes=1)
    refunds.answer_refund(db, merchant, old.id, False, "数据完整", at=refused)
    ended = refused + timedelta(days=days)
    db.flush()
    url = f"/exchange/contracts/{contract.id}"
    _as(client, db, buyer)
    page = client.get(url).text
    assert 'id="escalate-refund"' not in page
    assert 'data-closed="yes"' in page
    assert f"提交交易所运营方裁决的期限已于 {format_datetime(ended, 'zh')} 结束。" in page
    assert f"买方可在拒绝后 {days} 天内提交运营方裁决" in page
    late = _post(client, f"{url}/escalate-refund", {"request_id": str(old.id)})
    assert late.status_code == 409
    assert "已不能提交交易所运营方裁决" in late.text
    client.get("/lang/en")
    english = html.unescape(client.get(url).text)
    assert f"The time to take it to the exchange's operators ended on {format_datetime(ended, 'en')}." in english
    assert f"within {days} days of the refusal" in english
    client.cookies.clear()  # the API, on a token: the same 409 in either language, with a stable code and the date
    headers = bearer(db.get_one(User, buyer.user_id))
    until = local_display(ended, "%Y-%m-%d %H:%M GMT+08:00")
    for lang, words in (("zh", f"卖方拒绝后可以提交的期限已于 {until} 结束"),
                        ("en", f"the time to do so after the seller's refusal ended on {until}")):
        r = client.post(f"/api/v1/exchange/refund-requests/{old.id}/escalate",
                        headers={**headers, "Idempotency-Key": f"late-{lang}", "Accept-Language": lang})
        assert r.status_code == 409, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "refund_escalation_closed"
        assert words in r.json()["detail"], r.json()
    db.refresh(old)
    assert old.status == "refused"
    # asked again and refused now: the button is back, with the date it may be used until
    again = refunds.request_refund(db, buyer, contract.id, 10_000, "仍有记录缺失")
    refunds.answer_refund(db, merchant, again.id, False, "不同意")
    until_when = refunds.escalation_ends(again, ExchangeSettings())
    db.flush()
    _as(client, db, buyer)
    page = client.get(url).text
    assert 'id="escalate-refund"' in page
    assert f"可在 {format_datetime(until_when, 'zh')} 之前提交交易所运营方裁决。" in page
    assert 'data-closed="yes"' not in page  # the old refusal is no longer its item's latest request
    r = client.post(f"/api/v1/exchange/refund-requests/{again.id}/escalate",
                    headers={**headers, "Idempotency-Key": "in-time"})
    assert (r.status_code, r.json()["status"]) == (200, "escalated")


def test_the_api_says_until_when_a_refusal_may_be_escalated(client: Any, db: Session, buyer: Actor, merchant: Actor,
                                                            signed: Callable[..., Contract], fund: Any,
                                                            bearer: Any) -> None:
    """A refund request over the API carries ``escalation_deadline``: none while pending, the
    refusal's time plus ``refund_escalation_days`` (ISO 8601 with its zone) once refused, in every
    answer that shows the request (the refusal, the request, the contract's list); none once
    escalated; and on a refusal whose time has passed, the date it ended, which the 409 names too."""
    days, base = ExchangeSettings().refund_escalation_days, "/api/v1/exchange"
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]["RefundRequestOut"]
    assert "refund_escalation_days" in schema["properties"]["escalation_deadline"]["description"]
    assert {"type": "string", "format": "date-time"} in schema["properties"]["escalation_deadline"]["anyOf"]
    contract = _settled(db, signed, fund, buyer, merchant)
    as_buyer, as_seller = (bearer(db.get_one(User, who.user_id)) for who in (buyer, merchant))
    asked = client.post(f"{base}/contracts/{contract.id}/refund-requests", json={"amount_fen": 30_000,
                        "reason": "部分记录缺失"}, headers={**as_buyer, "Idempotency-Key": "ask"})
    assert (asked.status_code, asked.json()["status"], asked.json()["escalation_deadline"]) == (200, "pending", None)
    refused = client.post(f"{base}/refund-requests/{asked.json()['id']}/answer", json={"accept": False,
                          "reason": "数据完整"}, headers={**as_seller, "Idempotency-Key": "refuse"}).json()
    deadline = datetime.fromisoformat(refused["escalation_deadline"])
    assert deadline.utcoffset() is not None  # with its zone
    assert deadline == datetime.fromisoformat(refused["answered_at"]) + timedelta(days=days)
    assert client.get(f"{base}/refund-requests/{refused['id']}", headers=as_buyer).json() == refused
    assert client.get(f"{base}/contracts/{contract.id}/refund-requests", headers=as_seller).json() == [refused]
    escalated = client.post(f"{base}/refund-requests/{refused['id']}/escalate",
                            headers={**as_buyer, "Idempotency-Key": "escalate"}).json()
    assert (escalated["status"], escalated["escalation_deadline"]) == ("escalated", None)
    # a refusal whose time ended: the deadline stays, and the 409 names the same moment
    long_ago = utcnow() - timedelta(days=days + 3)
    late = _settled(db, signed, fund, buyer, merchant, at=long_ago)
    old = refunds.request_refund(db, buyer, late.id, 30_000, "部分记录缺失", at=long_ago)
    refunds.answer_refund(db, merchant, old.id, False, "数据完整", at=long_ago + timedelta(hours=2))
    db.flush()
    ended = datetime.fromisoformat(client.get(f"{base}/refund-requests/{old.id}", headers=as_buyer
                                              ).json()["escalation_deadline"])
    assert ended == long_ago + timedelta(hours=2, days=days)
    closed = client.post(f"{base}/refund-requests/{old.id}/escalate",
                         headers={**as_buyer, "Idempotency-Key": "late", "Accept-Language": "en"})
    assert closed.status_code == 409
    assert local_display(ended, "%Y-%m-%d %H:%M GMT+08:00") in closed.json()["detail"]
