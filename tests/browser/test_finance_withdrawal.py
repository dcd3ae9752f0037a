"""In a browser, on the demo: the demo bank finds its forced sale on /finance/sales, opens the
certificate's lookup, sees the withdrawal button in Chinese and in English, and withdraws the offer
through the form; the offer leaves /finance/sales and the lookup. Screenshots with
``QIANSHU_SCREENSHOTS``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qianshu.demo.seed import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if folder := os.environ.get("QIANSHU_SCREENSHOTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_the_demo_bank_withdraws_its_forced_sale(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/lang/zh?next=/sign-in")
    page.fill("input[name=email]", "bank@qianshu.demo")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("#sign-in-submit")
    page.goto("/finance/sales")
    number = page.locator("#sales a[href^='/finance/lookup']").first.inner_text().strip()
    lookup = f"/finance/lookup?number={number}"
    page.goto(lookup)
    button = page.locator("button[id^='withdraw-']")
    assert button.inner_text() == "撤回强制出售"
    _shot(page, "finance-withdraw-zh")
    page.goto(f"/lang/en?next={lookup}")
    assert page.locator("button[id^='withdraw-']").inner_text() == "Withdraw the forced sale"
    _shot(page, "finance-withdraw-en")
    page.goto(f"/lang/zh?next={lookup}")
    form = page.locator("form[id^='withdraw-form-']")
    form.locator("input[name=reason]").fill("借款人已还清逾期本息")
    form.locator("button").click()
    page.wait_for_load_state()
    assert page.locator("button[id^='withdraw-']").count() == 0
    assert page.locator("article.forced-sale").count() == 0
    assert "撤回强制出售" in page.content()  # the button is gone: this is the pledge's history, its new step
    _shot(page, "finance-withdrawn-zh")
    page.goto("/finance/sales")
    assert number not in page.content()
