"""Naming an organisation by name in the trust records' forms (``vouchers/org_picker.py``), over HTTP:
part of a Chinese or English name that names one approved organisation is that organisation; one
that names several comes back with them as radio buttons, nothing written, and the one picked wins;
hostile text (``%``, ``_``, quotes, 10,000 characters) is taken literally or refused beside its field
in the reader's language. The search that feeds the fields' lists shows public facts of approved
organisations only, and only to the programme's administrator."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from qianshu.accounts import service as accounts
from qianshu.core.i18n import LANG_COOKIE
from qianshu.vouchers.models import BrokenTrust, RelatedParties
from tests.accounts.test_form_errors import beside
from tests.vouchers.conftest import World
from tests.vouchers.test_api_pages import _sign_in


def _records(db: Any) -> int:
    return int(db.scalar(select(func.count(BrokenTrust.id))) or 0)


def _record(client: Any, world: World, token: str, org: str, **more: str) -> Any:
    return client.post(f"/vouchers/programmes/{world.programme_id}/broken-trust", follow_redirects=False, data={
        "csrf_token": token, "org_id": org, "source": "信用中国", "reason": "列入严重失信主体名单", **more})


def _recorded_org(db: Any) -> int:
    return int(db.scalar(select(BrokenTrust.org_id)))


def test_a_part_of_a_chinese_or_english_name_names_the_organisation(client, db, world: World) -> None:
    token = _sign_in(client, db, world.admin)
    assert _record(client, world, token, "智算科技").status_code == 303  # 贵阳智算科技有限公司
    assert _recorded_org(db) == world.company.org_id
    name_en = accounts.organisations_by_id(db, [world.other_company.org_id])[world.other_company.org_id].name_en
    related = client.post(f"/vouchers/programmes/{world.programme_id}/related", follow_redirects=False, data={
        "csrf_token": token, "org_a_id": "中国移动", "org_b_id": name_en.upper(), "reason": "同一实际控制人"})
    assert related.status_code == 303
    row = db.scalar(select(RelatedParties))
    assert {row.org_a_id, row.org_b_id} == {world.provider.org_id, world.other_company.org_id}


@pytest.mark.parametrize(("lang", "words"), [("zh", ("个机构匹配", "选择机构")),
                                              ("en", ("organisations match", "Pick the organisation"))])
def test_a_name_matching_several_comes_back_to_pick_from(client, db, world: World, lang: str,
                                                         words: tuple[str, str]) -> None:
    token = _sign_in(client, db, world.admin)
    client.cookies.set(LANG_COOKIE, lang)
    several = _record(client, world, token, "科技有限公司")  # both companies
    assert several.status_code == 422
    assert words[0] in beside(several.text, "org_id", "trust")
    assert words[1] in several.text
    usccs = {u.org_id: accounts.organisations_by_id(db, [u.org_id])[u.org_id].uscc
             for u in (world.company, world.other_company)}
    for uscc in usccs.values():
        assert f'name="org_id_pick" value="{uscc}"' in several.text
    assert 'value="科技有限公司"' in several.text  # what was typed is kept
    assert "example.cn" not in several.text  # no contact address of the matches
    assert _records(db) == 0
    picked = _record(client, world, token, "科技有限公司", org_id_pick=usccs[world.other_company.org_id])
    assert picked.status_code == 303
    assert _recorded_org(db) == world.other_company.org_id


@pytest.mark.parametrize(("lang", "none", "long"), [("zh", "没有名称或统一社会信用代码包含", "最多输入 200 个字符"),
                                                     ("en", "No approved organisation", "at most 200 characters")])
def test_hostile_text_is_taken_literally_or_refused(client, db, world: World, lang: str, none: str,
                                                    long: str) -> None:
    token = _sign_in(client, db, world.admin)
    client.cookies.set(LANG_COOKIE, lang)
    # as LIKE patterns "%" and "_" would match every organisation: taken literally they match none
    for text in ("%", "_", "%%_", "' OR '1'='1", '"><script>alert(1)</script>', "\\", "科技%"):
        r = _record(client, world, token, text)
        assert r.status_code == 422, text
        assert none in beside(r.text, "org_id", "trust"), text
        assert "<script>alert(1)</script>" not in r.text
    huge = _record(client, world, token, "贵" * 10_000)
    assert huge.status_code == 422
    assert long in beside(huge.text, "org_id", "trust")
    assert _records(db) == 0


def test_the_search_shows_public_facts_of_approved_organisations_to_the_administrator(
        client, db, world: World, make) -> None:
    make.org(name="贵阳智算科技分公司（待审）", status="pending")
    url = f"/vouchers/programmes/{world.programme_id}/organisations"
    _sign_in(client, db, world.admin)
    client.cookies.set(LANG_COOKIE, "en")
    found = client.get(url, params={"q": "智算"}).json()["organisations"]
    assert [o["uscc"] for o in found] == [accounts.organisations_by_id(db, [world.company.org_id])[
        world.company.org_id].uscc]
    assert set(found[0]) == {"name", "name_en", "uscc", "org_type", "label"}
    assert found[0]["label"].endswith("· Data merchant")
    for hostile in ("%", "_", "'", "\\", "x" * 10_000, ""):
        answer = client.get(url, params={"q": hostile})
        assert answer.status_code == 200
        assert answer.json()["organisations"] == [], hostile
    assert len(client.get(url, params={"q": "Test Data Tech"}).json()["organisations"]) >= 2
    for user in (world.company, world.provider, make.user(organisation=make.org(org_type="voucher_administrator"))):
        client.cookies.clear()
        _sign_in(client, db, user)
        assert client.get(url, params={"q": "智算"}).status_code in (403, 404)
    client.cookies.clear()
    assert client.get(url, params={"q": "智算"}, follow_redirects=False).status_code in (303, 401)
