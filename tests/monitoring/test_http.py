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
    r = client.get(f"/api/v1/monitoring/dashboard?division={OTHER_COUNTY}", headers=_api(bearer, user, "en"))
    assert r.status_code == 404
    assert "not within your jurisdiction" in r.json()["detail"]

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
                    files=[("photos", ("p.png", b"\x89PNG photo", "image/png")),
                           ("authorisation", ("a.pdf", b"%PDF signed", "application/pdf"))], follow_redirects=False)
    assert r.status_code == 303, r.text[:600]
    db.expire_all()
    event = cases.events_of(db, case.id)[-1]
    assert event.step == "visit"
    assert {f["kind"] for f in event.files} == {"photo", "authorisation"}
    digest = next(f["digest"] for f in event.files if f["kind"] == "authorisation")
    assert client.get(f"/monitoring/cases/{case.id}/files/{digest}").content == b"%PDF signed"
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
