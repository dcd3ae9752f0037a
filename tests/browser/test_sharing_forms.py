"""In a browser, on the demo: a department publishes a resource with the portal form (an error
shown beside its field row first), sets its sandbox policy, and a county caseworker's feed upload
(a form sent without its file first: the error beside the file field) is checked by a job with its
result on its own page; in Chinese and in English, with screenshots
(``QIANSHU_SCREENSHOTS``) a person can look at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qianshu.demo.seed import DEMO_PASSWORD
from tests.browser.test_every_page import _problems

pytestmark = pytest.mark.browser


def _shots() -> Path | None:
    folder = os.environ.get("QIANSHU_SCREENSHOTS")
    if not folder:
        return None
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if (folder := _shots()) is not None:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _sign_in(page, email: str, lang: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"/lang/{lang}?next=/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("#sign-in-submit")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_department_publishes_a_resource_in_the_browser(page, lang: str) -> None:  # type: ignore[no-untyped-def]
    _sign_in(page, "water@qianshu.demo", lang)
    page.goto("/sharing")
    page.click("a[href='/sharing/resources/new']")
    code = f"wells_{lang}"
    page.fill("input[name=code]", code)
    page.fill("input[name=name_zh]", "农村集中供水工程")
    page.fill("input[name=name_en]", "Rural water supply works")
    page.fill("input[name='fields.0.name']", "village_code")
    page.select_option("select[name='fields.0.type']", "code")
    page.fill("input[name='fields.0.meaning_zh']", "行政村代码")
    page.fill("input[name='fields.1.name']", "Bad Name")  # refused: lower-case letters only
    page.select_option("select[name='fields.1.type']", "integer")
    page.fill("input[name='fields.1.meaning_zh']", "受益人口")
    page.fill("textarea[name=legal_basis]", "《贵州省政务数据资源管理办法》")
    page.check("input[name=sharing_class][value=unconditional]")
    page.click("#resource-form button[type=submit]")
    error = page.locator("#f-resource-fields-1-name-error")
    assert error.is_visible()
    assert ("字段名" if lang == "zh" else "Field name") in error.inner_text()
    _shot(page, f"sharing-resource-form-error-{lang}")
    page.fill("input[name='fields.1.name']", "served_people")
    page.fill("textarea[name=legal_basis]", "《贵州省政务数据资源管理办法》")
    page.click("#resource-form button[type=submit]")
    page.wait_for_url("**/sharing/resources/*")
    assert code in page.content()
    page.fill("input[name=k]", "8")
    page.click("#sandbox-policy button[type=submit]")
    page.wait_for_url("**#sandbox-policy")
    assert page.locator("#policy-k").inner_text() == "8"
    _shot(page, f"sharing-resource-published-{lang}")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_feed_upload_is_checked_by_a_job_in_the_browser(page, lang: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "housing.csv"
    bad.write_text("household_id,remark\n1,x\n", encoding="utf-8")
    _sign_in(page, "county.caseworker@qianshu.demo", lang)
    page.goto("/monitoring/feeds")
    page.select_option("#upload select[name=feed]", "housing")
    page.fill("#upload input[name=division]", "522636")
    page.click("#upload button")  # no file chosen: the form again, the error beside the file field
    error = page.locator("#f-upload-file-error")
    assert error.is_visible()
    assert ("请选择要上传的文件" if lang == "zh" else "Choose the file to upload") in error.inner_text()
    assert page.locator("#upload select[name=feed]").input_value() == "housing"  # what was chosen is kept
    assert page.locator("#upload input[name=division]").input_value() == "522636"
    assert _problems(page, lang) == []  # no English on the Chinese page, no raw keys
    _shot(page, f"monitoring-feed-form-error-{lang}")
    page.set_input_files("#upload input[name=file]", str(bad))
    page.click("#upload button")
    page.wait_for_url("**/monitoring/feeds/uploads/*")
    _shot(page, f"monitoring-feed-upload-waiting-{lang}")
    # the worker of the live server checks it; the page reloads itself until then
    page.wait_for_selector("#error", timeout=60_000)
    assert ("缺少列" if lang == "zh" else "columns missing") in page.locator("#error").inner_text()
    _shot(page, f"monitoring-feed-upload-refused-{lang}")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_feed_file_past_one_mebibyte_is_uploaded_through_the_form(page, lang: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The resource page's upload form streams its file: 3 MiB (three times the portal's default body
    limit) is stored as a new version; a GBK file is refused with the line beside the file field."""
    big = tmp_path / f"recipients-{lang}.csv"
    with big.open("w", encoding="utf-8") as out:
        out.write("household_id,assistance,monthly_amount_fen\n")
        out.writelines(f"52263601020300{i % 1000:03d},dibao,{45000 + i % 7}\n" for i in range(120_000))
    assert big.stat().st_size > 3 * 1024 * 1024
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("household_id,assistance\n52263601020300001,低保\n".encode("gbk"))
    _sign_in(page, "civilaffairs@qianshu.demo", lang)
    page.goto("/sharing?q=civil_affairs")
    page.click("a:has-text('社会救助对象信息')" if lang == "zh" else "a:has-text('Social assistance recipients')")
    page.wait_for_url("**/sharing/resources/*")
    page.fill("#upload input[name=as_of]", "2026-07-31")
    page.set_input_files("#upload input[name=file]", str(gbk))
    page.click("#upload button[type=submit]")
    error = page.locator("#f-upload-file-error")
    assert error.is_visible()
    assert ("第 2 行" if lang == "zh" else "line 2") in error.inner_text()
    assert page.locator("#upload input[name=as_of]").input_value() == "2026-07-31"  # kept
    _shot(page, f"sharing-upload-refused-{lang}")
    page.set_input_files("#upload input[name=file]", str(big))
    page.click("#upload button[type=submit]")
    page.wait_for_load_state()
    files = page.locator("#files")
    assert big.name in files.inner_text()
    assert "120,000" in files.inner_text()
    _shot(page, f"sharing-upload-stored-{lang}")
