"""An appeal in part, in a browser on the demo, in Chinese and in English: a department asks for five
fields of the medical-insurance claims for a year, the owner grants two from April, the department
appeals two of the three fields left out for the whole year, and the big-data bureau grants one of
them from February, saying why. The requester then sees exactly the access that results — the
status, the three fields and the period granted, the appeal granted in part, a download of the
three columns — and every page reads well (no raw key, no English on the Chinese page, nothing
wider than the window). Screenshots go to ``QIANSHU_SCREENSHOTS``, or a temporary folder."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from qianshu.demo.seed import DEMO_PASSWORD
from tests.browser.test_every_page import VIEWPORT, _problems

pytestmark = pytest.mark.browser
REQUESTER = {"zh": "emergency@qianshu.demo", "en": "hrss@qianshu.demo"}
OWNER, BUREAU = "medicalinsurance@qianshu.demo", "government@qianshu.demo"
# what each person types, in the page's language
WORDS = {"zh": {"purpose": "灾后因病返贫风险核查", "appeal": "需要全年的结算日期和总费用，核对灾后就医",
                "part": "总费用涉及医院结算细节，不予提供；结算日期自二月起提供"},
         "en": {"purpose": "Checking illness after the floods", "appeal": "We need claim dates and costs for the year",
                "part": "Total costs show hospital billing; claim dates are shared from February"}}
SEEN = {"zh": {"status": "已部分同意", "appeal": "部分准予", "waiting": "申诉：待处理"},
        "en": {"status": "Narrowed", "appeal": "Granted in part", "waiting": "Appeal: Pending"}}


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("QIANSHU_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _as(browser: Any, live_server: str, email: str, lang: str) -> Any:
    """A tab of one person, signed in, reading ``lang``."""
    context = browser.new_context(base_url=live_server, locale="zh-CN" if lang == "zh" else "en-US",
                                  viewport=VIEWPORT)
    context.add_cookies([{"name": "qs_lang", "value": lang, "url": live_server}])
    tab = context.new_page()
    tab.goto("/sign-in")
    tab.fill("input[name=email]", email)
    tab.fill("input[name=password]", DEMO_PASSWORD)
    tab.click("#sign-in-submit")
    tab.wait_for_load_state()
    return tab


def _reads_well(tab: Any, lang: str, shots: Path, name: str) -> None:
    tab.screenshot(path=str(shots / f"sharing-appeal-parts-{name}-{lang}.png"), full_page=True)
    assert _problems(tab, lang) == [], (name, lang)


def _submit(tab: Any, form: str) -> None:
    tab.click(f"{form} button[type=submit]")
    tab.wait_for_load_state()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_appeal_granted_in_part_gives_exactly_that_access(browser: Any, live_server: str, lang: str,  # type: ignore[no-untyped-def]
                                                              tmp_path: Path) -> None:
    shots = _shots(tmp_path)
    requester = _as(browser, live_server, REQUESTER[lang], lang)
    requester.goto("/sharing?q=medical_insurance")
    requester.click("a[href^='/sharing/resources/']:has-text('医保结算信息')" if lang == "zh"
                    else "a[href^='/sharing/resources/']:has-text('Medical insurance claims')")
    requester.wait_for_url("**/sharing/resources/*")
    requester.fill("form[action='/sharing/requests'] textarea[name=purpose]", WORDS[lang]["purpose"])
    for name in ("resident_id", "claim_date", "total_cost_fen", "reimbursed_fen", "out_of_pocket_fen"):
        requester.check(f"form[action='/sharing/requests'] input[name=fields][value={name}]")
    requester.fill("form[action='/sharing/requests'] input[name=period_start]", "2026-01-01")
    requester.fill("form[action='/sharing/requests'] input[name=period_end]", "2026-12-31")
    _submit(requester, "form[action='/sharing/requests']")
    address = re.sub(r"^https?://[^/]+", "", requester.url)
    assert re.fullmatch(r"/sharing/requests/\d+", address), address

    owner = _as(browser, live_server, OWNER, lang)
    owner.goto(address)
    decision = f"form[action='{address}/decision']"
    owner.check(f"{decision} input[name=decision][value=narrow]")
    for name in ("claim_date", "total_cost_fen", "reimbursed_fen"):
        owner.uncheck(f"{decision} input[name=fields][value={name}]")
    owner.fill(f"{decision} input[name=period_start]", "2026-04-01")
    _submit(owner, decision)

    requester.goto(address)
    appeal = f"form[action='{address}/appeal']"
    offered = requester.eval_on_selector_all(f"{appeal} input[name=fields]", "boxes => boxes.map(b => b.value)")
    assert offered == ["claim_date", "total_cost_fen", "reimbursed_fen"]  # what was left out, nothing granted
    _reads_well(requester, lang, shots, "appeal-form")
    requester.uncheck(f"{appeal} input[name=fields][value=reimbursed_fen]")
    requester.fill(f"{appeal} textarea[name=reason]", WORDS[lang]["appeal"])
    _submit(requester, appeal)

    bureau = _as(browser, live_server, BUREAU, lang)
    bureau.goto("/sharing/requests?box=all")  # the supervision list says which appeal waits
    number = address.rsplit("/", 1)[1]
    assert bureau.locator(f"#appeal-of-{number}").inner_text() == SEEN[lang]["waiting"]
    _reads_well(bureau, lang, shots, "supervision")
    bureau.click(f"#requests a[href='{address}']")
    bureau.wait_for_url(f"**{address}")
    assert bureau.locator("#appeal-fields code").all_inner_texts() == ["claim_date", "total_cost_fen"]
    assert bureau.locator("#appeal-period").inner_text() == "2026-01-01 – 2026-12-31"
    _reads_well(bureau, lang, shots, "to-decide")
    verdict = f"form[action='{address}/appeal/decision']"
    bureau.check(f"{verdict} input[name=decision][value=grant_part]")
    bureau.uncheck(f"{verdict} input[name=fields][value=total_cost_fen]")
    bureau.fill(f"{verdict} input[name=period_start]", "2026-02-01")
    bureau.fill(f"{verdict} textarea[name=reason]", WORDS[lang]["part"])
    _submit(bureau, verdict)
    assert bureau.locator("#appeal-status").inner_text() == SEEN[lang]["appeal"]

    requester.goto(address)
    assert requester.locator("#status").inner_text() == SEEN[lang]["status"]
    assert requester.locator("#granted-fields code").all_inner_texts() == ["resident_id", "claim_date",
                                                                           "out_of_pocket_fen"]
    assert requester.locator("#granted-period").inner_text() == "2026-02-01 – 2026-12-31"
    assert requester.locator("#appeal-status").inner_text() == SEEN[lang]["appeal"]
    assert requester.locator("#appeal-granted code").all_inner_texts() == ["claim_date"]
    assert requester.locator("#appeal-reason").inner_text() == WORDS[lang]["part"]
    _reads_well(requester, lang, shots, "granted-in-part")
    link = requester.locator("#granted-files a").first.get_attribute("href")  # the demo's file as of 30 June
    download = requester.context.request.get(link)
    assert download.ok
    assert download.text().splitlines()[0] == "resident_id,claim_date,out_of_pocket_fen"
    for tab in (requester, owner, bureau):
        tab.context.close()
