"""A refused voucher application in a browser: the programme page comes back with the amount as
typed, the error beside the field in the page's language, and the summary focused. Screenshots go
to ``QIANSHU_SCREENSHOTS``, or a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.test_voucher_trust import open_programme

pytestmark = pytest.mark.browser
EXPECTED = {"zh": ("申请金额", "请更正以下 1 处问题"), "en": ("Amount asked for", "Please correct 1 problem")}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_refused_application_comes_back_beside_its_field(page, lang: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    open_programme(page, "merchant.traffic@qianshu.demo", lang)
    page.fill("#apply-form textarea[name=planned_use]", "训练贵阳城市交通大模型")
    page.fill("#apply-form input[name=requested_yuan]", "12.345")
    page.click("#apply-form button[type=submit]")
    page.wait_for_load_state()
    label, summary = EXPECTED[lang]
    beside = page.locator("#f-apply-requested-fen-error")
    assert label in beside.inner_text()
    assert page.locator("#f-apply-requested-fen").get_attribute("aria-invalid") == "true"
    assert page.locator("#f-apply-requested-fen").input_value() == "12.345"
    assert page.locator("#apply-form textarea[name=planned_use]").input_value() == "训练贵阳城市交通大模型"
    assert summary in page.locator("#form-errors").inner_text()
    assert page.evaluate("document.activeElement.id") == "form-errors"
    shots = Path(os.environ.get("QIANSHU_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.locator("#apply-form").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / f"vouchers-apply-refused-{lang}.png"), full_page=False)
