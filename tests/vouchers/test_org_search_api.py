"""The organisation name search in the API (``GET /api/v1/vouchers/programmes/{id}/organisations``),
over HTTP: approved organisations only, public facts with the id the record endpoints take, hostile
text taken literally, text over 200 characters a 422 in the reader's language, the programme's
administrator only; and the record endpoints taking a USCC as well as an id."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from qianshu.vouchers.models import BrokenTrust, RelatedParties
from tests.vouchers.conftest import World
from tests.vouchers.test_trust_records import BAD_CHECK, NOBODY, _uscc


def _url(world: World) -> str:
    return f"/api/v1/vouchers/programmes/{world.programme_id}/organisations"


def test_the_search_finds_approved_organisations_by_part_of_a_name(client, bearer, db, world: World, make) -> None:
    make.org(name="贵阳智算科技分公司（待审）", status="pending")
    odd = make.org(name="100%_数据'\"有限公司", status="approved", org_type="buyer")
    admin = {**bearer(world.admin), "Accept-Language": "en"}
    found = client.get(_url(world), params={"q": "智算"}, headers=admin)
    assert found.status_code == 200
    name_en = found.json()["organisations"][0]["name_en"]
    assert found.json() == {"organisations": [{
        "id": world.company.org_id, "name": "贵阳智算科技有限公司", "name_en": name_en,
        "uscc": _uscc(db, world.company), "org_type": "data_merchant", "label": f"{name_en} · Data merchant"}]}
    zh = client.get(_url(world), params={"q": "智算"}, headers={**admin, "Accept-Language": "zh"}).json()
    assert zh["organisations"][0]["label"] == "贵阳智算科技有限公司 · 数商"
    # as LIKE patterns they would match every organisation: each matches only the one that holds it
    for text in ("%", "_", "%_", "'", '"', "100%"):
        names = [o["name"] for o in client.get(_url(world), params={"q": text}, headers=admin).json()["organisations"]]
        assert names == [odd.name], text
    for text in ("\\", "' OR '1'='1", "%%", "科技%"):
        assert client.get(_url(world), params={"q": text}, headers=admin).json()["organisations"] == [], text
    assert client.get(_url(world), params={"q": "贵" * 200}, headers=admin).status_code == 200


@pytest.mark.parametrize(("lang", "words"), [("zh", "最多输入 200 个字符"), ("en", "at most 200 characters")])
def test_text_over_200_characters_is_refused_in_the_readers_language(client, bearer, world: World, lang: str,
                                                                     words: str) -> None:
    r = client.get(_url(world), params={"q": "贵" * 201}, headers={**bearer(world.admin), "Accept-Language": lang})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "too_long"
    assert words in r.json()["detail"]


def test_only_the_programmes_administrator_searches(client, bearer, world: World, make) -> None:
    for user in (world.company, world.provider, make.user(organisation=make.org(org_type="voucher_administrator"))):
        # who may not ask learns nothing, not even that the text is too long
        for q in ("智算", "贵" * 201):
            assert client.get(_url(world), params={"q": q}, headers=bearer(user)).status_code in (403, 404)
    assert client.get(_url(world), params={"q": "智算"}).status_code == 401
    assert client.get("/api/v1/vouchers/programmes/999999/organisations", params={"q": "智算"},
                      headers=bearer(world.admin)).status_code == 404


def test_the_record_endpoints_take_a_uscc_as_well_as_an_id(client, bearer, db, world: World) -> None:
    base = f"/api/v1/vouchers/programmes/{world.programme_id}"
    admin = {**bearer(world.admin), "Accept-Language": "en"}
    company, provider = _uscc(db, world.company), _uscc(db, world.provider)
    recorded = client.post(f"{base}/broken-trust", json={"org_id": company.lower(), "source": "信用中国",
                                                          "reason": "列入名单"}, headers=admin)
    assert recorded.status_code == 201
    assert recorded.json()["org_id"] == world.company.org_id
    for ref, code, word in ((NOBODY, "unknown_organisation", "No organisation has the USCC"),
                            (BAD_CHECK, None, "check character"), ("12345", None, None)):
        refused = client.post(f"{base}/broken-trust", json={"org_id": ref, "source": "信用中国", "reason": "列入名单"},
                              headers=admin)
        assert refused.status_code == 422, (ref, refused.text)
        if code:
            assert refused.json()["code"] == code
        if word:
            assert word in refused.json()["detail"]
    zh = client.post(f"{base}/broken-trust", json={"org_id": NOBODY, "source": "信用中国", "reason": "列入名单"},
                     headers={**admin, "Accept-Language": "zh"})
    assert zh.status_code == 422
    assert "统一社会信用代码" in zh.json()["detail"]
    pair: dict[str, Any] = {"org_a_id": company, "org_b_id": world.provider.org_id}
    assert client.post(f"{base}/related-parties", json=pair, headers=admin).status_code == 201
    same = client.post(f"{base}/related-parties", json={"org_a_id": company, "org_b_id": world.company.org_id},
                       headers=admin)
    assert same.status_code == 422
    assert same.json()["code"] == "same_organisation"
    assert client.post(f"{base}/related-parties/unmark", json={"org_a_id": world.company.org_id, "org_b_id": provider,
                                                                "reason": "股权已转让"}, headers=admin
                       ).json()["unmarked"] is True
    assert client.post(f"{base}/broken-trust/lift", json={"org_id": company, "reason": "信用修复"},
                       headers=admin).json()["lifted"] is True
    assert db.scalar(select(func.count(BrokenTrust.id))) == 1
    assert db.scalar(select(func.count(RelatedParties.id))) == 1


def test_the_search_is_documented_with_its_answer(client) -> None:
    document = client.get("/api/openapi.json").json()
    operation = document["paths"]["/api/v1/vouchers/programmes/{programme_id}/organisations"]["get"]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/OrganisationMatches"}
    assert set(document["components"]["schemas"]["OrganisationMatch"]["properties"]) == {
        "id", "name", "name_en", "uscc", "org_type", "label"}
    assert {"401", "403", "404", "422"} <= set(operation["responses"])
    body = document["components"]["schemas"]["BrokenTrustIn"]["properties"]["org_id"]
    assert {branch["type"] for branch in body["anyOf"]} == {"integer", "string"}
