"""A newcomer registers a GB18030 CSV in the portal, follows it to a certificate, checks the
inclusion proof in the browser and verifies the downloaded certificate offline with the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.browser.test_portal_flows import sign_in

pytestmark = pytest.mark.browser

ROWS = ["日期,线路,站点,刷卡人次,区划", *[f"2024-03-{d:02d},{n}路,花果园,{100 + d * n},520102"
                                       for d in range(1, 29) for n in (1, 2, 48)]]


def test_gb18030_csv_to_a_verified_certificate(browser, live_server: str, tmp_path: Path) -> None:
    csv_path = tmp_path / "贵阳公交刷卡.csv"
    csv_path.write_bytes("\r\n".join(ROWS).encode("gb18030"))  # as Excel in China saves it
    merchant = browser.new_context(base_url=live_server, locale="zh-CN", accept_downloads=True)
    page = merchant.new_page()
    sign_in(page, "merchant.traffic@qianshu.demo")
    page.goto("/registry")
    page.fill("#new-registration input[name=title_zh]", "贵阳公交刷卡人次（2024年3月）")
    page.fill("#new-registration input[name=title_en]", "Guiyang bus boardings, March 2024")
    page.click("#new-registration button[type=submit]")
    page.wait_for_selector("#files")
    registration_url = page.url
    page.set_input_files("#files", str(csv_path))
    # the page reloads once the upload is stored; a refused upload says so beside the field instead
    page.wait_for_selector("#process, #upload-status:has-text('上传失败')", timeout=60_000)
    assert page.locator("#process").count() == 1, page.locator("#upload-status").inner_text()
    page.click("#process")
    page.wait_for_selector("#declaration", timeout=60_000)  # the job ran; profile and declaration shown
    assert "GB18030" in page.content().upper()
    page.select_option("#declaration select[name=industry_code]", "G54")
    page.select_option("#declaration select[name=division_code]", "520100")
    page.fill("#declaration textarea[name=description_zh]", "贵阳市公交线路按日刷卡人次。")
    page.fill("#declaration textarea[name=lawful_basis]", "本公司运营系统自行采集")
    page.check("#declaration input[name=rights][value=holding]")
    page.click("#declaration button[type=submit]")
    page.wait_for_load_state()
    page.click("#submit")
    page.wait_for_load_state()
    assert page.locator("#reg-status").inner_text() == "已提交"

    staff = browser.new_context(base_url=live_server, locale="zh-CN")
    desk = staff.new_page()
    sign_in(desk, "reviewer@qianshu.demo")
    desk.goto(registration_url.replace(live_server, ""))
    desk.click("#take")
    desk.wait_for_load_state()
    desk.click("#approve button[type=submit]")
    desk.wait_for_load_state()
    staff.clear_cookies()
    sign_in(desk, "operator@qianshu.demo")
    desk.goto(registration_url.replace(live_server, ""))
    desk.click("#issue")
    desk.wait_for_load_state()
    assert desk.locator("#reg-status").inner_text() == "已发证"

    page.goto(registration_url.replace(live_server, ""))
    page.click("a[href^='/registry/certificates/']")
    page.wait_for_selector(".log-check.ok", timeout=15_000)  # inclusion proof checked in the browser
    with page.expect_download() as download:
        page.click("#download-json")
    certificate = tmp_path / "certificate.json"
    download.value.save_as(certificate)
    assert json.loads(certificate.read_text())["certificate"]["holder"]["name"] == "贵阳智慧交通数据有限公司"

    key = Path(os.environ["QIANSHU_LIVE_DATA_DIR"]) / "keys" / "exchange-ed25519.pub.pem"
    ok = subprocess.run([sys.executable, "-m", "qianshu.cli", "certificate", "verify", str(certificate),
                         "--public-key", str(key)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    forged = json.loads(certificate.read_text())
    forged["certificate"]["data"]["rows"] += 1
    certificate.write_text(json.dumps(forged, ensure_ascii=False))
    bad = subprocess.run([sys.executable, "-m", "qianshu.cli", "certificate", "verify", str(certificate),
                          "--public-key", str(key)], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
    assert httpx.get(f"{live_server}/registry/verify").status_code == 200
    merchant.close()
    staff.close()
