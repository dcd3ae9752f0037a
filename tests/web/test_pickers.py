"""Industry and region pickers as the server renders them (they work without JavaScript), and
the server's refusal of codes that are not on them."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session

from qianshu.catalog import demand
from qianshu.catalog.schemas import DemandIn
from qianshu.core.errors import InvalidInput
from qianshu.core.vocabulary import INDUSTRY_DIVISIONS, industry_choices, region_choices, validate_industry_code
from qianshu.registry.schemas import Declaration
from tests.accounts.test_portal import csrf, sign_in


def _select(page: str, name: str) -> str:
    match = re.search(rf'<select name="{name}".*?</select>', page, re.S)
    assert match, f"no <select name={name!r}> on the page"
    return match.group(0)


def test_every_gb_t_4754_division_is_under_its_section() -> None:
    sections = industry_choices("zh")
    assert [s.code for s in sections] == list("ABCDEFGHIJKLMNOPQRST")
    assert sum(len(s.children) for s in sections) == len(INDUSTRY_DIVISIONS) == 97
    transport = next(s for s in sections if s.code == "G")
    assert [(d.code, d.name, d.other) for d in transport.children][1] == ("G54", "道路运输业", "Road transport")
    assert INDUSTRY_DIVISIONS["S94"][0] == "社会保障"  # 2017 numbering (S93 was social security in 2011)


def test_guizhou_is_grouped_by_prefecture_with_english_names_where_they_exist() -> None:
    guizhou = region_choices("en")
    assert (guizhou.code, guizhou.name, guizhou.other) == ("520000", "Guizhou", "贵州省")
    assert len(guizhou.children) == 9
    assert sum(len(p.children) for p in guizhou.children) == 88
    guiyang = guizhou.children[0]
    assert (guiyang.name, guiyang.other) == ("Guiyang", "贵阳市")
    assert ("520111", "花溪区") in [(c.code, c.name) for c in guiyang.children]  # no English name: Chinese


def test_the_search_page_offers_pickers_in_the_page_language(client) -> None:  # type: ignore[no-untyped-def]
    zh = client.get("/catalog", params={"industry": "G54", "region": "520111"}).text
    industry, region = _select(zh, "industry"), _select(zh, "region")
    assert '<optgroup label="G 交通运输、仓储和邮政业"' in industry
    assert re.search(r'<option value="G54" data-other="Road transport" selected>G54 道路运输业</option>', industry)
    assert re.search(r'<optgroup label="贵阳市" data-other="Guiyang">', region)
    assert re.search(r'<option value="520111" lang="zh-CN"[^>]* selected>花溪区 520111</option>', region)
    assert '<script src="/static/web/pickers.js" defer></script>' in zh
    client.cookies.set("qs_lang", "en")
    en = _select(client.get("/catalog").text, "industry")
    assert '<option value="G54" data-other="道路运输业" >G54 Road transport</option>' in en
    assert "All industries" in en


def test_a_value_not_on_the_list_is_kept_for_the_server_to_name(client, make) -> None:  # type: ignore[no-untyped-def]
    user = make.user()
    sign_in(client, user.email)
    page = client.get("/demands").text
    assert _select(page, "industry_code").count("<option") == 1 + 20 + 97  # "any", sections, divisions
    applied = client.get("/apply").text
    region = _select(applied, "division_code")
    assert region.count("<option") == 1 + 1 + 9 + 88 + 33  # "choose", Guizhou, prefectures, counties, others
    assert '<option value="440000" data-other="Guangdong" >广东省 440000</option>' in region
    token = csrf(client, "/demands")
    refused = client.post("/demands", data={"title": "需要数据", "industry_code": "A99", "csrf_token": token})
    assert refused.status_code == 422
    # named beside the field (core/forms.py), by the label the page gives it
    assert ('<span class="field-error" id="f-industry-code-error">行业代码（GB/T 4754）：不是 GB/T 4754-2017 的行业代码'
            in refused.text)


@pytest.mark.parametrize(("value", "sections", "ok"), [
    ("G54", False, "G54"), (" g54 ", False, "G54"), ("G", True, "G"), ("G", False, None), ("A99", True, None),
    ("Z01", True, None), ("", True, None),
])
def test_industry_codes_are_checked_against_the_standard(value: str, sections: bool, ok: str | None) -> None:
    if ok:
        assert validate_industry_code(value, sections=sections) == ok
        return
    with pytest.raises(InvalidInput) as caught:
        validate_industry_code(value, sections=sections)
    assert caught.value.field == "industry_code"
    assert caught.value.bilingual() == ("行业代码：不是 GB/T 4754-2017 的行业代码 / "
                                        "industry_code: is not a GB/T 4754-2017 industry code")


def test_a_declaration_and_a_demand_refuse_an_unknown_industry(db: Session, make) -> None:  # type: ignore[no-untyped-def]
    # The schema collects it with the form's other errors (InvalidInput is a ValueError to pydantic).
    with pytest.raises(ValidationError, match="industry_code"):
        Declaration(title_zh="数据", title_en="Data", industry_code="A99", division_code="520102",
                    update_frequency="daily", source="own_collection", lawful_basis="自行采集", rights=["holding"])
    buyer = make.actor(make.user(organisation=make.org(org_type="buyer")))
    with pytest.raises(InvalidInput, match="industry_code"):
        demand.post_demand(db, buyer, DemandIn(title="需要数据", industry_code="B13"))  # 13 is under C
    assert demand.post_demand(db, buyer, DemandIn(title="需要数据", industry_code="C")).industry_code == "C"
