"""The seller's portal forms: a product's sandbox settings and a contract's data API limits, each
error beside its field in the page's language; and the leak page naming the contract whose decoy
rows a file holds."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from qianshu.accounts.models import User
from qianshu.core.actor import Actor
from qianshu.core.settings import Settings
from qianshu.delivery import limits, links, sandbox_service, service
from qianshu.delivery.settings import DeliverySettings
from qianshu.exchange.models import Contract
from tests.accounts.test_portal import csrf, sign_in
from tests.delivery.delivery_support import Setup, make_setup
from tests.delivery.test_links import contract_of  # noqa: F401 - fixture
from tests.exchange.conftest import fund  # noqa: F401 - fixture


@pytest.fixture
def setup(db: Session, settings: Settings, tmp_path: Path) -> Setup:
    return make_setup(db, settings, tmp_path)


def _email(db: Session, user_id: int | None) -> str:
    user = db.get(User, user_id)
    assert user is not None
    return user.email


def test_the_seller_sets_the_sandbox_in_a_form_with_errors_beside_fields(client: TestClient, db: Session,
                                                                          settings: Settings, setup: Setup) -> None:
    assert sign_in(client, _email(db, setup.merchant.user_id)).status_code == 303
    path = f"/delivery/products/{setup.listing.id}/sandbox"
    page = client.get(path)
    assert page.status_code == 200
    assert "显示的最小分组（k）" in page.text
    assert 'name="identifying"' in page.text
    token = csrf(client, path)
    refused = client.post(path, data={"csrf_token": token, "k": "1", "epsilon": "lots", "budget": "1",
                                      "bounds": "income: 9, 1"})
    assert refused.status_code == 422
    assert 'id="f-k-error"' in refused.text
    assert 'id="f-epsilon-error"' in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert 'value="lots"' in refused.text  # the input is kept
    bad_bounds = client.post(path, data={"csrf_token": token, "k": "12", "epsilon": "", "budget": "2",
                                         "bounds": "income: 9, 1"})
    assert bad_bounds.status_code == 422
    assert 'id="f-bounds-error"' in bad_bounds.text
    assert "第 1 行" in bad_bounds.text
    client.cookies.set("qs_lang", "en")
    english = client.post(path, data={"csrf_token": token, "k": "1", "budget": "1"})
    client.cookies.delete("qs_lang")
    assert english.status_code == 422
    assert "Smallest group shown (k)" in english.text
    assert "显示的最小分组" not in english.text
    done = client.post(path, data={"csrf_token": token, "k": "12", "epsilon": "0.5", "budget": "3",
                                   "bounds": "income: 0, 50000", "identifying": ["county"]}, follow_redirects=False)
    assert done.status_code == 303, done.text
    chosen = sandbox_service.product_sandbox(db, settings, setup.listing.id)
    assert (chosen.k, chosen.epsilon, chosen.budget) == (12, 0.5, 3.0)
    assert dict(chosen.bounds or {}) == {"income": (0.0, 50000.0)}
    assert chosen.identifying == ("county",)
    again = client.get(path)
    assert 'value="12"' in again.text
    assert "income: 0, 50000" in again.text
    # The buyer may not.
    client.post("/sign-out", data={"csrf_token": csrf(client, "/")})
    client.cookies.clear()
    assert sign_in(client, _email(db, setup.buyer.user_id)).status_code == 303
    assert client.get(path).status_code in (403, 404)


def test_the_seller_sets_a_contracts_limits_in_a_form(client: TestClient, db: Session, setup: Setup) -> None:
    assert sign_in(client, _email(db, setup.merchant.user_id)).status_code == 303
    contract_page = client.get(f"/exchange/contracts/{setup.api_contract.id}")
    assert f'href="/delivery/contracts/{setup.api_contract.id}/limits"' in contract_page.text
    path = f"/delivery/contracts/{setup.api_contract.id}/limits"
    token = csrf(client, path)
    too_many = DeliverySettings().api_max_rate_per_minute + 1
    refused = client.post(path, data={"csrf_token": token, "rate_per_minute": str(too_many), "quota_period": "week",
                                      "calls_per_period": "10", "rows_per_period": "100"})
    assert refused.status_code == 422
    assert 'id="f-quota-period-error"' in refused.text
    refused = client.post(path, data={"csrf_token": token, "rate_per_minute": str(too_many), "quota_period": "day",
                                      "calls_per_period": "10", "rows_per_period": "100"})
    assert refused.status_code == 422
    assert 'id="f-rate-per-minute-error"' in refused.text
    assert "每分钟调用次数" in refused.text
    done = client.post(path, data={"csrf_token": token, "rate_per_minute": "7", "quota_period": "month",
                                   "calls_per_period": "10", "rows_per_period": "100"}, follow_redirects=False)
    assert done.status_code == 303
    assert limits.limits_of(db, DeliverySettings(), setup.api_contract.id) == limits.ApiLimits(7, "month", 10, 100,
                                                                                              True)
    client.post("/sign-out", data={"csrf_token": csrf(client, "/")})
    client.cookies.clear()
    assert sign_in(client, _email(db, setup.buyer.user_id)).status_code == 303
    seen = client.get(path)
    assert seen.status_code == 200
    assert 'id="limits"' in seen.text
    assert 'id="limits-form"' not in seen.text
    assert client.post(path, data={"csrf_token": csrf(client, path), "rate_per_minute": "9", "quota_period": "day",
                                   "calls_per_period": "10", "rows_per_period": "100"}).status_code == 403


def test_the_leak_page_names_the_contract_of_the_decoys(client: Any, db: Session, settings: Settings, buyer: Actor,
                                                        merchant: Actor,
                                                        contract_of: Callable[..., Contract]) -> None:  # noqa: F811
    contract = contract_of()
    service.set_watermark_policy(db, merchant, settings, contract.listing_id, [], {}, decoys=8)
    link = links.issue_link(db, buyer, settings, contract.id, "parquet")
    db.flush()
    parts = urlsplit(settings.public_base + links.link_path(settings, link))
    copy = pq.read_table(io.BytesIO(client.get(f"{parts.path}?{parts.query}").content))
    leaked = copy.select(list(reversed(range(copy.num_columns)))[1:])
    body = io.BytesIO()
    pq.write_table(pa.Table.from_batches(leaked.to_batches()), body)
    sign_in(client, _email(db, merchant.user_id))
    token = csrf(client, "/delivery/leaks")
    answer = client.post(f"/delivery/leaks?csrf_token={token}", data={"listing_id": str(contract.listing_id)},
                         files={"file": ("leak.parquet", body.getvalue(), "application/octet-stream")})
    assert answer.status_code == 200, answer.text
    assert 'id="decoy-result"' in answer.text
    assert f"该文件含有合同 {contract.number} 的 8 个诱饵行" in answer.text
    # the copy's channel in the page's language, not the stored word
    named = answer.text.split('id="leak-result"')[1].split("</div>")[0]
    assert "(文件下载)" in named
    assert "(download)" not in named



def test_the_seller_reaches_the_leak_search_from_the_contract_page(
        client: Any, db: Session, settings: Settings, buyer: Actor, merchant: Actor, make: Any,
        contract_of: Callable[..., Contract]) -> None:  # noqa: F811
    contract = contract_of()
    # the buyer's copy as CSV for Excel (UTF-8 after a byte-order mark), which then leaks
    link = links.issue_link(db, buyer, settings, contract.id, "csv-excel")
    db.flush()
    parts = urlsplit(settings.public_base + links.link_path(settings, link))
    leaked = client.get(f"{parts.path}?{parts.query}").content
    assert leaked.startswith(b"\xef\xbb\xbf")
    page_path = f"/exchange/contracts/{contract.id}"
    leak_path = f"/delivery/leaks?listing_id={contract.listing_id}"
    sign_in(client, _email(db, merchant.user_id))
    chinese = client.get(page_path).text
    assert f'href="{leak_path}" id="leak-search-link">查找本产品泄露副本的来源</a>' in chinese
    client.cookies.set("qs_lang", "en")
    english = client.get(page_path).text
    assert f'href="{leak_path}" id="leak-search-link">Find the source of a leaked copy of this product</a>' in english
    client.cookies.set("qs_lang", "zh")
    # the link opens the search with the contract's product chosen, and the search names the contract
    form = client.get(leak_path)
    assert form.status_code == 200
    assert f'<option value="{contract.listing_id}" selected>' in form.text
    answer = client.post(f"/delivery/leaks?csrf_token={csrf(client, leak_path)}",
                         data={"listing_id": str(contract.listing_id)},
                         files={"file": ("泄露.csv", leaked, "text/csv")})
    assert answer.status_code == 200, answer.text
    named = answer.text.split('id="leak-result"')[1].split("</div>")[0]
    assert f"该副本带有合同 {contract.number} 的水印" in named
    client.post("/sign-out", data={"csrf_token": csrf(client, "/")})
    client.cookies.clear()
    # the buyer may not search the seller's copies: no link on the same page; it is offered CSV for Excel
    sign_in(client, _email(db, buyer.user_id))
    seen = client.get(page_path)
    assert seen.status_code == 200
    assert 'id="delivery"' in seen.text
    assert "leak-search-link" not in seen.text
    delivery_path = f"/delivery/contracts/{contract.id}"
    assert '<option value="csv-excel">CSV（UTF-8，供 Excel 打开）</option>' in client.get(delivery_path).text
    client.cookies.set("qs_lang", "en")
    assert '<option value="csv-excel">CSV (UTF-8, for Excel)</option>' in client.get(delivery_path).text
    # the exchange's operator, who arbitrates the dispute that follows a leak, is offered it too (the policy)
    from qianshu.delivery import read_models
    offered = {who: read_models.contract_panel(db, actor, contract) for who, actor in (
        ("buyer", buyer), ("seller", merchant), ("operator", make.actor(make.operator())))}
    assert {who: bool(panel and panel.can_find_leak) for who, panel in offered.items()} == {
        "buyer": False, "seller": True, "operator": True}
