"""In a browser, on the demo: a bidder finds the demo's forced sale by auction, opens its page (the
reserve, the closing, the two demo bids), is refused a bid below the minimum beside the field, then
bids the minimum and leads; in Chinese and in English. Screenshots with ``QIANSHU_SCREENSHOTS``."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser.test_finance_withdrawal import _shot
from tests.browser.test_portal_flows import sign_in

pytestmark = pytest.mark.browser


def test_a_bidder_bids_in_the_demo_auction(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/lang/zh?next=/")
    sign_in(page, "buyer.logistics@qianshu.demo")
    page.goto("/finance/sales")
    page.locator("a[id^='bid-link-']").first.click()
    page.wait_for_load_state()
    sale_url = page.url
    assert page.locator("#bids tr[id^='bid-']").count() == 2  # the demo's two bids
    assert "保留价" in page.content()
    _shot(page, "finance-auction-zh")
    minimum = page.locator("input[name=amount_yuan]").get_attribute("placeholder")  # the least bid, in yuan
    assert minimum
    page.fill("input[name=amount_yuan]", "1")  # far below the minimum: refused beside the field
    page.click("#place-bid")
    page.wait_for_load_state()
    assert page.locator("#f-bid-amount-fen-error").count() == 1
    assert page.locator("#bids tr[id^='bid-']").count() == 2  # nothing changed
    _shot(page, "finance-auction-refused-zh")
    page.fill("input[name=amount_yuan]", minimum)
    page.click("#place-bid")
    page.wait_for_load_state()
    assert page.locator("#bids tr[id^='bid-']").count() == 3, page.locator("#form-errors").all_inner_texts()
    assert "您的出价" in page.locator("#bids tr[id^='bid-']").first.inner_text()
    path = urlsplit(sale_url).path
    page.goto(f"/lang/en?next={path}")
    assert "Reserve price" in page.content()
    assert "your bid" in page.locator("#bids tr[id^='bid-']").first.inner_text()
    _shot(page, "finance-auction-en")
    page.goto(f"/lang/zh?next={path}")
