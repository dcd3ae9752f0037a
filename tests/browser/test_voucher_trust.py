"""The voucher administrator's related parties and broken-trust records in Chromium, in Chinese and
English: a malformed USCC comes back beside its field with the input kept; a record with its source
and reason is listed, found by the search, and lifted with a reason. The page is looked at as
test_every_page looks (no raw keys, no other language, no page wider than the window); screenshots
go to ``QIANSHU_SCREENSHOTS`` (or a temporary folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.test_every_page import VIEWPORT, _problems
from tests.browser.test_portal_flows import sign_in

pytestmark = pytest.mark.browser
NOTHING = "zz%_12345"  # names no organisation (taken literally: no wildcard)
# the label beside the USCC; what the administrator types (source, reason, why lifted), in the page's language
WORDS = {"zh": ("机构（名称或统一社会信用代码）", "信用中国", "列入严重失信主体名单", "信用修复完成"),
         "en": ("Organisation (name or USCC)", "Credit China", "listed as seriously untrustworthy", "credit repaired")}


def open_programme(page, email: str, lang: str) -> None:  # type: ignore[no-untyped-def]
    """Signed in as ``email``, in ``lang``, on the page of the first programme of the directory."""
    sign_in(page, email)
    if lang == "en":
        page.click("#lang-en")
        page.wait_for_load_state()
    page.goto("/vouchers")
    page.locator("a[href^='/vouchers/programmes/']").first.click()
    page.wait_for_load_state()


def _a_provider_uscc(page) -> str:  # type: ignore[no-untyped-def]
    here = page.url
    page.goto("/vouchers")
    uscc = str(page.locator("h3 small code").first.inner_text().strip())  # a provider of the directory
    page.goto(here)
    return uscc


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_broken_trust_record_is_kept_and_lifted(page, lang: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shots = Path(os.environ.get("QIANSHU_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(VIEWPORT)
    open_programme(page, "vouchers@qianshu.demo", lang)
    uscc = _a_provider_uscc(page)
    page.click("#trust-link")
    page.wait_for_load_state()
    label, source, reason, lifted_reason = WORDS[lang]
    page.fill("#trust-form input[name=org_id]", NOTHING)
    page.fill("#trust-form input[name=source]", source)
    page.fill("#trust-form textarea[name=reason]", reason)
    page.click("#trust-form button[type=submit]")
    page.wait_for_load_state()
    assert label in page.locator("#f-trust-org-id-error").inner_text()
    assert page.locator("#f-trust-org-id").input_value() == NOTHING
    assert page.locator("#trust-form textarea[name=reason]").input_value() == reason
    assert _problems(page, lang) == []
    page.screenshot(path=str(shots / f"vouchers-trust-refused-{lang}.png"), full_page=True)
    page.fill("#trust-form input[name=org_id]", uscc)
    page.click("#trust-form button[type=submit]")
    page.wait_for_load_state()
    row = page.locator("#broken-trust tr.in-force")
    assert row.count() == 1
    assert reason in row.inner_text()
    page.fill("#trust-search input[name=q]", uscc[-8:])
    page.click("#trust-search button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#broken-trust tr.in-force").count() == 1
    assert _problems(page, lang) == []
    page.screenshot(path=str(shots / f"vouchers-trust-recorded-{lang}.png"), full_page=True)
    page.locator("#broken-trust tr.in-force input[name=reason]").fill(lifted_reason)
    page.locator("#broken-trust tr.in-force button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("#broken-trust tr.in-force").count() == 0
    assert lifted_reason in page.locator("#broken-trust tr.lifted").first.inner_text()


HOLDER = ("merchant.weather@qianshu.demo", "贵州气象数据服务有限公司")
NOTICE = {"zh": ("不能使用", "余额保留", "信用中国（贵州）"),
          "en": ("cannot be spent", "keep their value", "信用中国（贵州）")}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_holder_with_a_record_in_force_is_told_why_its_vouchers_are_not_spent(  # type: ignore[no-untyped-def]
        page, lang: str, tmp_path: Path) -> None:
    """The administrator records the demo's weather company (which holds vouchers), by part of its
    name; the company's vouchers page says why they are not spent, in the page's language; the
    record is lifted again, so the demo stays as it was."""
    shots = Path(os.environ.get("QIANSHU_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(VIEWPORT)
    email, name = HOLDER
    open_programme(page, "vouchers@qianshu.demo", lang)
    page.click("#trust-link")
    page.wait_for_load_state()
    trust_page = page.url
    page.fill("#trust-form input[name=org_id]", name)
    page.fill("#trust-form input[name=source]", "信用中国（贵州）")
    page.fill("#trust-form textarea[name=reason]", "列入严重失信主体名单")
    page.click("#trust-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#broken-trust tr.in-force").count() == 1
    try:
        page.context.clear_cookies()
        sign_in(page, email)
        if lang == "en":
            page.click("#lang-en")
            page.wait_for_load_state()
        page.goto("/vouchers/mine")
        notice = page.locator("#broken-trust-notice").inner_text()
        assert all(word in notice for word in NOTICE[lang]), notice
        assert page.locator("#vouchers tr").count() > 1  # the vouchers are still listed, with their value
        assert _problems(page, lang) == []
        page.screenshot(path=str(shots / f"vouchers-mine-broken-trust-{lang}.png"), full_page=True)
    finally:
        page.context.clear_cookies()
        sign_in(page, "vouchers@qianshu.demo")
        page.goto(trust_page)
        page.locator("#broken-trust tr.in-force input[name=reason]").fill("信用修复完成")
        page.locator("#broken-trust tr.in-force button[type=submit]").click()
        page.wait_for_load_state()
    assert page.locator("#broken-trust tr.in-force").count() == 0
