"""Industry and region pickers: a person picks with the keyboard only, in either language."""

from __future__ import annotations

import pytest

from tests.browser.test_portal_flows import sign_in

pytestmark = pytest.mark.browser


def _post_demand_with_keyboard(page, title: str, industry: str, region_keys: list[str], submit: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/demands")
    form = page.locator("form[action='/demands'][method=post]")
    form.locator("input[name=title]").focus()
    page.keyboard.type(title)
    # The filter box comes right before its list; from the scenario field, Tab reaches it.
    form.locator("input[name=scenario]").focus()
    page.keyboard.press("Tab")
    page.keyboard.type(industry)
    page.keyboard.press("Enter")  # keeps the choice, does not send the form
    assert page.evaluate("document.activeElement.name") == "industry_code"
    page.keyboard.press("Tab")  # to the region's filter box
    for key in region_keys:
        if key.startswith("Arrow"):
            page.keyboard.press(key)
        else:
            page.keyboard.type(key)
    form.locator("button[type=submit]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/demands/*")
    assert submit in page.locator("h1").inner_text()


def test_pick_an_industry_and_a_county_by_typing_chinese(browser, live_server: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server, locale="zh-CN")
    page = context.new_page()
    sign_in(page, "buyer.logistics@qianshu.demo")
    _post_demand_with_keyboard(page, "需要花溪区道路货运数据", "道路运输", ["花溪"], "花溪区道路货运")
    assert "道路运输业 · 花溪区" in page.locator("p.muted").first.inner_text()
    context.close()


def test_pick_by_typing_english_and_arrow_keys(browser, live_server: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server, locale="en")
    page = context.new_page()
    page.goto("/lang/en?next=/")
    sign_in(page, "buyer.logistics@qianshu.demo")
    page.goto("/demands")
    industry = page.locator("label[data-picker=industry] select")
    # English names on an English page; a section can be chosen as a whole in the demand pool.
    assert industry.locator("option[value=G54]").inner_text() == "G54 Road transport"
    assert "G Transport, storage and post (whole section)" in industry.locator("option[value=G]").inner_text()
    # "Guiyang" finds the prefecture (typed in English) and its counties (Chinese names only);
    # the first match is the whole prefecture, two arrows down is its second county.
    _post_demand_with_keyboard(page, "Warehouse occupancy wanted", "warehous",
                               ["guiyang", "ArrowDown", "ArrowDown"], "Warehouse occupancy")
    assert "Warehousing · 云岩区" in page.locator("p.muted").first.inner_text()
    context.close()


def test_the_filter_says_when_nothing_matches_and_the_list_works_alone(browser, live_server: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server, locale="zh-CN")
    page = context.new_page()
    page.goto("/catalog")
    region = page.locator("form.searchbar label[data-picker=region]")
    region.locator("input.picker-filter").fill("zzzz")
    assert region.locator("[role=status]").inner_text() == "没有匹配项"
    # Chosen without the filter (as without JavaScript), the list sends its code.
    page.locator("form.searchbar select[name=industry]").select_option("M74")
    page.locator("form.searchbar button[type=submit]").click()
    page.wait_for_url("**industry=M74**")
    assert page.locator("form.searchbar select[name=industry]").input_value() == "M74"
    context.close()
