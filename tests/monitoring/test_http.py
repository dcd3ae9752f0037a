"""Every route of cases and dashboards keeps to the caller's jurisdiction: a caseworker asking for
another county's case gets a 404 (403 for a step of the wrong level), in Chinese and in English;
the portal path of the demo (alerts with reasons, a visit, a measure) works."""

from __future__ import annotations

import base64
import csv
import io

from qianshu.core.i18n import LANG_COOKIE
from qianshu.monitoring import cases
from tests.monitoring.conftest import FAR_VILLAGE, OTHER_COUNTY, World
from tests.registry.helpers import sign_in


def _api(bearer, user, lang: str = "zh"):  # type: ignore[no-untyped-def]
    return {**bearer(user), "Accept-Language": lang}


def test_another_countys_case_is_not_found_through_every_route(client, db, world: World, bearer) -> None:  # type: ignore[no-untyped-def]
    mine, far = world.case(db, "H1"), world.case(db, "H9", FAR_VILLAGE)
    db.flush()
    user = world.users["county"]
    for lang, words in (("zh", "不存在"), ("en", "does not exist")):
        headers = _api(bearer, user, lang)
        r = client.get(f"/api/v1/monitoring/cases/{far.id}", headers=headers)
        assert r.status_code == 404, r.text
        assert words in r.json()["detail"]
        r = client.post(f"/api/v1/monitoring/cases/{far.id}/steps/visit", headers=headers,
                        json={"version": far.version, "findings": "x"})
        assert r.status_code == 404
        assert words in r.json()["detail"]
    headers = _api(bearer, user)
    listed = client.get("/api/v1/monitoring/cases", headers=headers).json()
    assert [c["id"] for c in listed] == [mine.id]
    exported = client.get("/api/v1/monitoring/cases.csv", headers=headers)
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert [int(r["id"]) for r in rows] == [mine.id]
    for lang, words in (("zh", f"区划 {OTHER_COUNTY} 不在您的管辖范围内"),
                        ("en", f"The division {OTHER_COUNTY} is not within your jurisdiction")):
        r = client.get(f"/api/v1/monitoring/dashboard?division={OTHER_COUNTY}", headers=_api(bearer, user, lang))
        assert r.status_code == 404
        assert words in r.json()["detail"]
        assert r.json()["code"] == "not_found"

    csrf = sign_in(client, user)
    for path in (f"/monitoring/cases/{far.id}", f"/monitoring/cases/{far.id}/files/{'a' * 64}",
                 f"/monitoring/dashboard?division={OTHER_COUNTY}",
                 f"/monitoring/dashboard/by_month.csv?division={OTHER_COUNTY}",
                 f"/monitoring/dashboard.xlsx?division={OTHER_COUNTY}"):
        r = client.get(path)
        assert r.status_code == 404, path
    r = client.post(f"/monitoring/cases/{far.id}/steps/visit?csrf_token={csrf}",
                    data={"csrf_token": csrf, "version": str(far.version), "findings": "x"})
    assert r.status_code == 404
    assert "不存在" in r.text
    client.cookies.set(LANG_COOKIE, "en")
    r = client.get(f"/monitoring/cases/{far.id}")
    assert r.status_code == 404
    assert "does not exist" in r.text
    page = client.get("/monitoring/cases")
    assert f"/monitoring/cases/{mine.id}" in page.text
    assert f"/monitoring/cases/{far.id}\"" not in page.text
    exported = client.get("/monitoring/cases.csv")
    assert [int(r["id"]) for r in csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff")))] == [mine.id]


def test_a_step_of_another_level_is_refused_in_both_languages(client, db, world: World, bearer) -> None:  # type: ignore[no-untyped-def]
    case = world.case(db)
    db.flush()
    for lang, words in (("zh", "村级"), ("en", "village")):
        r = client.post(f"/api/v1/monitoring/cases/{case.id}/steps/village_review",
                        headers=_api(bearer, world.users["county"], lang),
                        json={"version": case.version, "decision": "approve"})
        assert r.status_code == 403, r.text
        assert words in r.json()["detail"]
    r = client.get(f"/api/v1/monitoring/cases/{case.id}", headers=_api(bearer, world.users["merchant"]))
    assert r.status_code in (403, 404)


def test_masked_for_the_province_identified_for_the_village(client, db, world: World, bearer) -> None:  # type: ignore[no-untyped-def]
    case = world.case(db)
    db.flush()
    shown = client.get(f"/api/v1/monitoring/cases/{case.id}", headers=_api(bearer, world.users["province"])).json()
    assert shown["head_name"] == "王**"
    assert not shown["identified"]
    shown = client.get(f"/api/v1/monitoring/cases/{case.id}", headers=_api(bearer, world.users["village"])).json()
    assert shown["head_name"] == "王大山"
    assert shown["identified"]


def test_the_village_caseworker_records_a_visit_with_files_in_the_portal(client, db, world: World, bearer) -> None:  # type: ignore[no-untyped-def]
    case = world.case(db)
    db.flush()
    seen = case.version
    csrf = sign_in(client, world.users["village"])
    page = client.get("/monitoring/cases?channel=warning")
    assert "收入低于监测范围" in page.text  # the alert's reason
    page = client.get(f"/monitoring/cases/{case.id}")
    assert 'id="step-visit"' in page.text
    assert "王大山" in page.text
    r = client.post(f"/monitoring/cases/{case.id}/steps/visit?csrf_token={csrf}",
                    data={"csrf_token": csrf, "version": str(case.version), "findings": "属实", "able_to_work": "1"},
                    files=[("photos", ("p.png", b"\x89PNG\r\n\x1a\n photo", "image/png")),
                           ("authorisation", ("a.pdf", b"%PDF signed", "application/pdf"))], follow_redirects=False)
    assert r.status_code == 303, r.text[:600]
    db.expire_all()
    event = cases.events_of(db, case.id)[-1]
    assert event.step == "visit"
    assert {f["kind"] for f in event.files} == {"photo", "authorisation"}
    digest = next(f["digest"] for f in event.files if f["kind"] == "authorisation")
    signed = client.get(f"/monitoring/cases/{case.id}/files/{digest}")
    assert signed.content == b"%PDF signed"
    assert signed.headers["content-disposition"].startswith("attachment")
    photo = client.get(f"/monitoring/cases/{case.id}/files/"
                       + next(f["digest"] for f in event.files if f["kind"] == "photo"))
    assert photo.headers["content-type"] == "image/png"  # shown in the browser, not downloaded
    assert photo.headers["content-disposition"].startswith("inline")
    # what the visit found is in the case's history, as typed, in both languages
    page = client.get(f"/monitoring/cases/{case.id}")
    assert '核实情况：<span class="findings"><span lang="zh-CN">属实</span></span>' in page.text
    client.cookies.set(LANG_COOKIE, "en")
    page = client.get(f"/monitoring/cases/{case.id}")
    assert 'Findings: <span class="findings"><span lang="zh-CN">属实</span></span>' in page.text
    assert '<dd id="head-name"><span lang="zh-CN">王大山</span></dd>' in page.text  # a Chinese name on an English page
    assert '<td class="person"><span lang="zh-CN">王大山</span></td>' in client.get("/monitoring/cases").text
    client.cookies.set(LANG_COOKIE, "zh")
    # a second submit of the same (now stale) version: 409, the page says why
    r = client.post(f"/monitoring/cases/{case.id}/steps/cross_check?csrf_token={csrf}",
                    data={"csrf_token": csrf, "version": str(seen), "departments": "x", "findings": "y"})
    assert r.status_code == 409
    assert "已有其他人修改" in r.text
    assert 'id="step-cross_check"' in r.text  # the form again, with the case as it is now


def test_the_api_takes_files_as_base64_and_the_dashboard_counts(client, db, world: World, bearer) -> None:  # type: ignore[no-untyped-def]
    case = world.case(db)
    db.flush()
    r = client.post(f"/api/v1/monitoring/cases/{case.id}/steps/visit", headers=_api(bearer, world.users["village"]),
                    json={"version": case.version, "findings": "属实", "files": [
                        {"kind": "authorisation", "name": "a.pdf",
                         "content_base64": base64.b64encode(b"%PDF").decode()}]})
    assert r.status_code == 200, r.text
    board = client.get("/api/v1/monitoring/dashboard", headers=_api(bearer, world.users["province"])).json()
    assert board["totals"]["flagged"] == 1
    assert [row["key"] for row in board["series"]["by_division"]] == ["522600"]
    csrf = sign_in(client, world.users["province"])
    page = client.get("/monitoring/dashboard?division=522636")
    assert page.status_code == 200
    assert 'id="map"' in page.text
    assert "乡镇 001" in page.text
    assert client.get("/monitoring/dashboard.xlsx").content[:2] == b"PK"
    assert "flagged" in client.get("/monitoring/dashboard/by_reason.csv").text
    assert csrf


def test_the_portal_masks_and_offers_each_level_only_its_own_steps(client, db, world: World) -> None:  # type: ignore[no-untyped-def]
    case = world.case(db)
    db.flush()
    sign_in(client, world.users["province"])
    listed = client.get("/monitoring/cases")
    assert "王**" in listed.text
    assert "王大山" not in listed.text
    assert 'href="/monitoring/cases/new"' not in listed.text  # a province caseworker opens no cases
    page = client.get(f"/monitoring/cases/{case.id}")
    assert "王**" in page.text
    assert 'id="steps"' not in page.text
    client.cookies.clear()
    sign_in(client, world.users["village"])
    assert 'href="/monitoring/cases/new"' in client.get("/monitoring/cases").text
    page = client.get(f"/monitoring/cases/{case.id}")
    assert "王大山" in page.text
    assert 'id="step-visit"' in page.text
    assert 'id="step-village_review"' not in page.text  # not at this stage


def test_a_self_report_shows_its_receipt_to_the_household_and_the_case_to_its_caseworker(  # type: ignore[no-untyped-def]
        client, db, world: World) -> None:
    from tests.monitoring.conftest import VILLAGE, resident_id

    def report(n: int, csrf: str):  # type: ignore[no-untyped-def]
        return client.post("/monitoring/apply", data={
            "csrf_token": csrf, "division_code": VILLAGE, "head_name": "李四", "members": "2", "note": "生病",
            "head_resident_id": resident_id(VILLAGE[:6], n)}, follow_redirects=False)

    assert client.get("/monitoring/apply").status_code == 200  # anyone may apply
    csrf = sign_in(client, world.users["merchant"])
    answer = report(21, csrf)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/monitoring/apply?done=")
    client.cookies.clear()
    csrf = sign_in(client, world.users["village"])
    answer = report(22, csrf)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/monitoring/cases/")
    assert client.get("/monitoring/cases/new").status_code == 200
    client.cookies.clear()
    sign_in(client, world.users["merchant"])
    assert client.get("/monitoring/cases/new").status_code == 403


def test_a_data_gap_case_says_how_many_months_the_income_rests_on(  # type: ignore[no-untyped-def]
        client, db, world: World) -> None:
    from qianshu.monitoring import case_opening
    from qianshu.monitoring.models import Case
    from tests.monitoring.conftest import VILLAGE, flag

    gap = flag("H9", VILLAGE, reasons=("income_data_gap",))
    gap["traces"][0]["value"] = 2  # the months of the income survey reported
    case_opening.open_cases_from_flags(db, [gap], "test-run")
    db.flush()
    case = db.query(Case).filter(Case.open_household == "H9").one()
    sign_in(client, world.users["village"])
    trace = client.get(f"/monitoring/cases/{case.id}").text.split('class="trace">', 1)[1].split("</li>", 1)[0]
    assert "收入数据缺月（需入户核实）" in trace
    assert "仅报送 2 个月（共 12 个月）" in trace
    assert "¥" not in trace  # months, not an amount


def test_the_case_page_names_the_feed_and_the_amount_and_a_revisit_is_typed_in_yuan(  # type: ignore[no-untyped-def]
        client, db, world: World) -> None:
    from tests.monitoring.test_cases import recent_months, to_monitored

    case = to_monitored(db, world, world.case(db))
    db.flush()
    csrf = sign_in(client, world.users["village"])
    page = client.get(f"/monitoring/cases/{case.id}").text
    trace = page.split('class="trace">', 1)[1].split("</li>", 1)[0]
    assert "收入监测（农业农村）" in trace  # the feed's name, not agriculture_income
    assert "¥5,000.00" in trace  # the household's income of the year, 500,000 fen
    assert "agriculture_income" not in page
    assert '<span lang="zh-CN">系统</span>' in page  # the run opened it: 系统, not 'system'
    assert ">system<" not in page
    assert 'name="income_months_yuan"' in page

    def revisit(months: str):  # type: ignore[no-untyped-def]
        seen = db.get(type(case), case.id)
        db.refresh(seen)
        return client.post(f"/monitoring/cases/{case.id}/steps/revisit?csrf_token={csrf}", follow_redirects=False,
                           data={"csrf_token": csrf, "version": str(seen.version), "findings": "稳定",
                                 "income_months_yuan": months, "guarantees_secured": "1"})

    r = revisit("2026-01:七百")
    assert r.status_code == 422
    assert 'id="error"' in r.text
    assert "income_months" in r.text.split('id="error"', 1)[1].split("</p>", 1)[0]
    # six months at 700 yuan a person, above this year's 650 yuan a month (7,800 a year), typed as people
    # type them: Chinese and ASCII commas and colons, one with a fraction of a yuan
    m = [item["month"] for item in recent_months(6, 0)]
    r = revisit(f"{m[0]}:700, {m[1]}:700，{m[2]}：700, {m[3]}:700.5, {m[4]}:700, {m[5]}:700")
    assert r.status_code == 303, r.text[:800]
    db.expire_all()
    assert cases.events_of(db, case.id)[-1].details["income_months"][3] == {"month": m[3], "per_capita_fen": 70_050}
    page = client.get(f"/monitoring/cases/{case.id}").text
    assert 'id="blockers"' not in page
    assert 'id="step-propose_elimination"' in page


def test_a_runs_households_show_resident_ids_only_to_the_front_line_and_each_view_is_audited(  # type: ignore[no-untyped-def]
        client, db, world: World, bearer) -> None:
    from sqlalchemy import select

    from qianshu.core.audit import AuditEvent
    from qianshu.monitoring.models import FlaggedHousehold, MonitoringRun
    from tests.monitoring.conftest import COUNTY, VILLAGE, resident_id

    ill = resident_id(COUNTY, 3)
    run = MonitoringRun(year=2026, division_code=COUNTY, status="succeeded", households_flagged=1, flags=2,
                        reasons={"serious_illness": 1, "income_below_threshold": 1})
    db.add(run)
    db.flush()
    db.add(FlaggedHousehold(run_id=run.id, household_id="H1", county_code=COUNTY, township_code=VILLAGE[:9],
                            village_code=VILLAGE, proposed_type="marginal", reasons=[
                                {"reason": "serious_illness", "source_feed": "health", "source_key": ill, "value": 1},
                                {"reason": "income_below_threshold", "source_feed": "agriculture_income",
                                 "source_key": "H1", "value": 500_000}]))
    db.flush()

    def keys(user: str) -> list[str]:
        r = client.get(f"/api/v1/monitoring/runs/{run.id}/households", headers=_api(bearer, world.users[user]))
        assert r.status_code == 200, r.text
        return [reason["source_key"] for reason in r.json()[0]["reasons"]]

    assert keys("county") == [ill, "H1"]
    assert keys("province") == [ill[:6] + "*" * 8 + ill[-4:], "H1"]
    viewed = db.scalars(select(AuditEvent).where(AuditEvent.action == "monitoring.run.households_viewed",
                                                 AuditEvent.target_id == str(run.id))).all()
    assert len(viewed) == 2
    sign_in(client, world.users["province"])
    page = client.get(f"/monitoring/runs/{run.id}").text
    assert ill not in page
    assert ill[:6] + "*" * 8 + ill[-4:] in page
    assert "大病（卫健）" in page  # the feed by its name, not 'health'
