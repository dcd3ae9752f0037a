"""Vouchers over HTTP: bad input gets a bilingual 4xx naming the field, nothing moved; the pages
answer in both languages, the provider settles with an uploaded metering file, the dashboard draws
its charts and gives its CSV."""

from __future__ import annotations

import base64
import re
from typing import Any

from sqlalchemy import func, select

from qianshu.accounts import service as accounts
from qianshu.vouchers.models import ComputeOrder, Programme
from tests.factories import TEST_PASSWORD
from tests.vouchers.conftest import World, issue, programme_in

ORDER = {"card_hours": 1000, "month": "2026-11", "purpose": "large_model_training"}


def _programme_body(world: World, **change: Any) -> dict[str, Any]:
    return {**programme_in([world.provider.org_id], kind="model").model_dump(mode="json"), **change}


def test_bad_programmes_are_refused_in_both_languages(client, bearer, db, world: World) -> None:
    headers = {**bearer(world.admin), "Idempotency-Key": "p-1"}
    for lang, word in (("zh", "面额"), ("en", "face value")):
        r = client.post("/api/v1/vouchers/programmes", json=_programme_body(world, cap_contract_fen=100),
                        headers={**headers, "Accept-Language": lang, "Idempotency-Key": f"cap-{lang}"})
        assert r.status_code == 422
        assert r.json()["field"] == "cap_contract_fen"
        assert word in r.json()["detail"]
    ratio = client.post("/api/v1/vouchers/programmes", json=_programme_body(world, ratio_bp=10_001),
                        headers={**headers, "Idempotency-Key": "ratio"})
    assert ratio.status_code == 422
    assert "ratio_bp" in ratio.text
    overlap = client.post("/api/v1/vouchers/programmes", headers={**headers, "Idempotency-Key": "overlap"},
                          json=_programme_body(world, kind="compute"))
    assert overlap.status_code == 409
    assert overlap.json()["code"] == "overlapping_programme"
    assert db.scalar(select(func.count(Programme.id))) == 1


def test_orders_over_the_api(client, bearer, db, world: World) -> None:
    vouchers = issue(db, world, world.company)
    path = f"/api/v1/vouchers/programmes/{world.programme_id}/orders"
    body = {**ORDER, "offering_id": world.offering_id, "voucher_ids": vouchers}
    no_key = client.post(path, json=body, headers=bearer(world.company))
    assert no_key.status_code == 422
    stolen = client.post(path, json=body, headers={**bearer(world.other_company), "Idempotency-Key": "x",
                                                   "Accept-Language": "zh"})
    assert stolen.status_code == 404
    assert "算力券" in stolen.json()["detail"]
    headers = {**bearer(world.company), "Idempotency-Key": "order-1"}
    first = client.post(path, json=body, headers=headers)
    again = client.post(path, json=body, headers=headers)
    assert first.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert db.scalar(select(func.count(ComputeOrder.id))) == 1
    order = first.json()
    usage = {"used_card_hours": 900, "evidence_name": "m.csv", "evidence_base64": base64.b64encode(b"x").decode()}
    settled = client.post(f"/api/v1/vouchers/orders/{order['id']}/usage", json=usage,
                          headers={**bearer(world.provider), "Idempotency-Key": "u-1"})
    assert settled.status_code == 200
    assert settled.json()["settled_voucher_fen"] == 900 * 1_200 * 3000 // 10_000
    twice = client.post(f"/api/v1/vouchers/orders/{order['id']}/usage", json=usage,
                        headers={**bearer(world.provider), "Idempotency-Key": "u-2", "Accept-Language": "en"})
    assert twice.status_code == 409
    assert twice.json()["detail"] == f"Usage of order {order['id']} was reported already."
    board = client.get("/api/v1/vouchers/dashboard").json()
    assert board["card_hours"] == 900


def _sign_in(client: Any, db: Any, user: Any) -> str:
    from qianshu.core.settings import Settings

    settings: Settings = client.app.state.settings
    raw = accounts.start_session(db, settings, user, "127.0.0.1", "t")
    db.flush()
    client.cookies.set("qs_session", raw)
    home = client.get("/")
    return re.search(r'name="csrf-token" content="([0-9a-f]+)"', home.text).group(1)  # type: ignore[union-attr]


def test_the_portal_road(client, db, world: World) -> None:
    assert TEST_PASSWORD
    vouchers = issue(db, world, world.company)
    assert client.get("/vouchers").status_code == 200
    english = client.get("/vouchers", headers={"Accept-Language": "en"})
    assert "Compute providers" in english.text or "算力服务商" in english.text
    token = _sign_in(client, db, world.company)
    page = client.get(f"/vouchers/programmes/{world.programme_id}")
    assert 'id="order-form"' in page.text
    made = client.post(f"/vouchers/programmes/{world.programme_id}/order", follow_redirects=False, data={
        "csrf_token": token, "offering_id": str(world.offering_id), "card_hours": "500", "month": "2026-11",
        "term_months": "1", "purpose": "large_model_training", "voucher_ids": [str(v) for v in vouchers]})
    assert made.status_code == 303
    order_url = made.headers["location"]
    client.cookies.clear()
    token = _sign_in(client, db, world.provider)
    assert 'id="usage-form"' in client.get(order_url).text
    settled = client.post(f"{order_url}/usage?csrf_token={token}", data={"used_card_hours": "400"},
                          files={"evidence": ("metering.csv", b"node,hours\n1,400\n", "text/csv")},
                          follow_redirects=False)
    assert settled.status_code == 303
    assert 'id="claim-form"' in client.get(order_url).text
    dashboard = client.get("/vouchers/dashboard")
    assert dashboard.text.count("<svg") == 5
    assert 'href="/vouchers/dashboard/by_provider.csv"' in dashboard.text  # the shared chart (web/charts.html)
    assert "1 笔订单" in dashboard.text
    csv = client.get("/vouchers/dashboard/by_provider.csv")
    assert csv.status_code == 200
    assert "中国移动" in csv.text or "测试" in csv.text or csv.text.count("\n") == 2
    # the purpose's label column is in the reader's language, as the chart's (not the stored key)
    for lang, label in (("zh", "大模型训练"), ("en", "Large-model training")):
        client.cookies.set("qs_lang", lang)
        row = client.get("/vouchers/dashboard/by_purpose.csv").text.splitlines()[1]
        assert row.startswith(f"large_model_training,{label},1,"), row
