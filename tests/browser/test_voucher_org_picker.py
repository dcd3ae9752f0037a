"""Naming an organisation by name on the voucher administrator's trust records page, in Chromium, in
Chinese and English: with JavaScript the field's list fills as one types (entries in the page's
language, each value a USCC) and picking one records that organisation; without JavaScript a name
matching several organisations comes back with them as radio buttons, and the one ticked is
recorded. Each record is lifted again, so the demo is left as it was. The pages are looked at as
test_every_page looks; screenshots go to ``QIANSHU_SCREENSHOTS`` (or a temporary folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.test_every_page import VIEWPORT, _problems
from tests.browser.test_voucher_trust import open_programme

pytestmark = pytest.mark.browser
# typed with the script (one organisation), its name as listed; typed without (several), the one ticked
WORDS = {"zh": ("腾讯", "腾讯云计算（贵安）有限公司", "中国", "中国电信股份有限公司贵州分公司", "请在下方选择"),
         "en": ("tencent", "Tencent Cloud (Gui'an)", "China", "China Telecom Guizhou", "pick one below")}


def _trust_page(page, lang: str) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size(VIEWPORT)
    open_programme(page, "vouchers@qianshu.demo", lang)
    page.click("#trust-link")
    page.wait_for_load_state()


def _record_and_lift(page, name: str, lang: str, shot: Path) -> None:  # type: ignore[no-untyped-def]
    page.fill("#trust-form input[name=source]", "信用中国" if lang == "zh" else "Credit China")
    page.fill("#trust-form textarea[name=reason]", "列入失信名单" if lang == "zh" else "listed")
    page.click("#trust-form button[type=submit]")
    page.wait_for_load_state()
    row = page.locator("#broken-trust tr.in-force", has_text=name)
    assert row.count() == 1, page.locator("#broken-trust").inner_text()
    assert _problems(page, lang) == []
    page.screenshot(path=str(shot), full_page=True)
    row.locator("input[name=reason]").fill("测试后解除" if lang == "zh" else "lifted after the test")
    row.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("#broken-trust tr.in-force", has_text=name).count() == 0


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_list_fills_as_one_types_and_a_pick_names_the_organisation(browser, live_server: str, lang: str,
                                                                       tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shots = Path(os.environ.get("QIANSHU_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=live_server, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _trust_page(page, lang)
    typed, name, *_ = WORDS[lang]
    field = page.locator("#trust-form input[name=org_id]")
    field.click()
    page.keyboard.type(typed)
    options = page.locator("#orgs-trust-org_id option")
    options.first.wait_for(state="attached")
    assert options.count() == 1
    assert name in (options.first.get_attribute("label") or "")
    # a datalist entry, picked, puts its value in the field: the USCC
    uscc = options.first.get_attribute("value") or ""
    assert len(uscc) == 18
    field.fill(uscc)
    _record_and_lift(page, name, lang, shots / f"vouchers-org-picker-script-{lang}.png")
    assert errors == []
    context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_without_script_a_name_matching_several_comes_back_to_pick_from(browser, live_server: str, lang: str,
                                                                       tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shots = Path(os.environ.get("QIANSHU_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=live_server, locale="zh-CN", java_script_enabled=False)
    page = context.new_page()
    _trust_page(page, lang)
    *_, typed, name, pick_words = WORDS[lang]
    page.fill("#trust-form input[name=org_id]", typed)
    page.fill("#trust-form input[name=source]", "信用中国" if lang == "zh" else "Credit China")
    page.fill("#trust-form textarea[name=reason]", "列入失信名单" if lang == "zh" else "listed")
    page.click("#trust-form button[type=submit]")
    page.wait_for_load_state()
    assert pick_words in page.locator("#f-trust-org-id-error").inner_text()
    choices = page.locator("#orgs-trust-org_id-choices label")
    assert choices.count() >= 3
    assert page.locator("#f-trust-org-id").input_value() == typed
    assert _problems(page, lang) == []
    page.screenshot(path=str(shots / f"vouchers-org-picker-choices-{lang}.png"), full_page=True)
    choices.filter(has_text=name).locator("input[type=radio]").check()
    _record_and_lift(page, name, lang, shots / f"vouchers-org-picker-picked-{lang}.png")
    context.close()
