"""The data-voucher payment form in Chromium, in Chinese and English: the weather company opens its
unpaid contract (the demo's), unticks its data vouchers and sees what the vouchers cover fall to
nothing and what its wallet pays rise to the price, ticks one again and sees them come back — the
figures the server computes with the payment's own rule (vouchers.js asks for them). Screenshots of
both states go to ``QIANSHU_SCREENSHOTS`` (or a temporary folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.test_portal_flows import sign_in

pytestmark = pytest.mark.browser
ZERO = {"zh": "¥0.00", "en": "CN¥0.00"}
WALLET_WORDS = {"zh": "钱包支付", "en": "from our wallet"}


def _unpaid_contract(page) -> str:  # type: ignore[no-untyped-def]
    """The address of the buyer's contract whose page offers the data-voucher form."""
    page.goto("/exchange/trades")
    links = {a.get_attribute("href") for a in page.locator("a[href^='/exchange/contracts/']").all()}
    for href in sorted(links, reverse=True):
        page.goto(href)
        if page.locator("form.voucher-pay").count():
            return str(href)
    raise AssertionError("no contract page offers the data-voucher form")


def _figures(page) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    form = page.locator("form.voucher-pay").first
    return (form.locator("[data-figure=voucher_text]").inner_text(),
            form.locator("[data-figure=wallet_text]").inner_text(), form.locator("button[type=submit]").inner_text())


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_ticking_fewer_vouchers_updates_the_figures(page, lang: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shots = Path(os.environ.get("QIANSHU_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    sign_in(page, "merchant.weather@qianshu.demo")
    if lang == "en":
        page.click("#lang-en")
        page.wait_for_load_state()
    _unpaid_contract(page)
    page.wait_for_load_state("networkidle")  # the figures of the first ticks, asked for on load
    form = page.locator("form.voucher-pay").first
    boxes = form.locator("input[name=voucher_ids]")
    assert boxes.count() >= 1
    covered, wallet, button = _figures(page)
    assert covered != ZERO[lang]
    assert WALLET_WORDS[lang] in button
    assert wallet in button
    form.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / f"vouchers-figures-ticked-{lang}.png"), full_page=False)
    if form.locator("input[type=checkbox][name=voucher_ids]").count():
        for i in range(boxes.count()):
            boxes.nth(i).uncheck()
        page.wait_for_function(
            "zero => document.querySelector('form.voucher-pay [data-figure=voucher_text]').textContent === zero",
            arg=ZERO[lang])
        none_covered, none_wallet, none_button = _figures(page)
        assert none_covered == ZERO[lang]
        assert none_wallet != wallet
        assert none_wallet in none_button
        page.screenshot(path=str(shots / f"vouchers-figures-none-{lang}.png"), full_page=False)
        boxes.first.check()
        page.wait_for_function(
            "zero => document.querySelector('form.voucher-pay [data-figure=voucher_text]').textContent !== zero",
            arg=ZERO[lang])
        assert _figures(page)[0] != ZERO[lang]
    # no raw key or another language's words on the page
    text = form.inner_text()
    assert ("Vouchers cover" in text) if lang == "en" else ("数据券抵扣" in text)
