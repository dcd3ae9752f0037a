"""HTTP: the search API and the portal survive hostile input; editing over the API; pages render."""

from __future__ import annotations

import pytest

from qianshu.catalog.schemas import PlanIn

HOSTILE = [
    "x" * 10_000,
    '"交通"',
    "交通*",
    "NEAR(交通, 2)",
    "((交通)",
    "'; DROP TABLE catalog_listings; --",
    "😀🚦",
    "\x00\x01\x1b[31m",
    "%00",
    "\\",
    "交通" * 300,
]


@pytest.fixture
def products(listed, merchant):  # type: ignore[no-untyped-def]
    return [
        listed(merchant, title_zh="贵阳交通卡口数据", title_en="Guiyang traffic 2024", tags=["交通"]),
        listed(
            merchant,
            title_zh="医保药品目录",
            industry_code="S94",
            plans=[PlanIn(kind="quote", delivery_modes=["sandbox"])],
        ),
    ]


@pytest.mark.parametrize("q", HOSTILE)
def test_search_api_never_fails(client, products, q: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/catalog/search", params={"q": q})
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert response.json()["code"] == "invalid_input"
    page = client.get("/catalog", params={"q": q})
    assert page.status_code in (200, 422)


@pytest.mark.parametrize(
    "params",
    [
        {"page": "-1"},
        {"page": "0"},
        {"page": "abc"},
        {"per_page": "100000"},
        {"industry": "'; --"},
        {"region": "52010x"},
        {"sort": "rand()"},
        {"delivery": "carrier pigeon"},
        {"page": "99999999999999999999"},
    ],
)
def test_bad_parameters_are_422(client, products, params) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/catalog/search", params=params)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"
    assert client.get("/catalog", params=params).status_code in (200, 422)


def test_search_api_results_and_facets(client, products) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/api/v1/catalog/search", params={"q": "贵阳 traffic 2024"}).json()
    assert body["total"] == 1
    assert body["items"][0]["id"] == products[0].id
    body = client.get("/api/v1/catalog/search", params={"page": 50}).json()
    assert body["items"] == []
    assert body["total"] == 2
    facets = client.get("/api/v1/catalog/search", headers={"Accept-Language": "en"}).json()["facets"]
    assert {"value": "quote", "label": "Price on request", "count": 1, "selected": False} in facets["price"]
    assert client.get("/api/v1/catalog/search", params={"industry": "Z"}).status_code == 422
    assert client.get("/api/v1/catalog/search", params={"industry": "T"}).json()["total"] == 0


def test_edit_over_api_with_stale_version_is_409(client, db, make, bearer, registration) -> None:  # type: ignore[no-untyped-def]
    user = make.user()
    headers = bearer(user)
    reg = registration(make.actor(user))
    created = client.post("/api/v1/catalog/listings", json={"registration_id": reg.id, "tags": ["a"]}, headers=headers)
    assert created.status_code == 201, created.text
    listing = created.json()
    ok = client.patch(
        f"/api/v1/catalog/listings/{listing['id']}",
        json={"version": listing["version"], "title_en": "One"},
        headers=headers,
    )
    assert ok.status_code == 200
    assert ok.json()["version"] == listing["version"] + 1
    stale = client.patch(
        f"/api/v1/catalog/listings/{listing['id']}",
        json={"version": listing["version"], "title_en": "Two"},
        headers={**headers, "Accept-Language": "zh"},
    )
    assert stale.status_code == 409
    assert "重新加载" in stale.json()["detail"]
    bad = client.patch(
        f"/api/v1/catalog/listings/{listing['id']}", json={"version": 99, "title_en": "x\x00"}, headers=headers
    )
    assert bad.status_code == 422
    plan = client.post(
        f"/api/v1/catalog/listings/{listing['id']}/plans",
        headers=headers,
        json={
            "kind": "monthly",
            "price": "99.5",
            "delivery_modes": ["api"],
            "policy": {"purposes": ["research"], "territory": "CN-GZ"},
        },
    )
    assert plan.status_code == 201
    assert plan.json()["price_fen"] == 9950
    assert client.post(f"/api/v1/catalog/listings/{listing['id']}/submit", headers=headers).status_code == 200
    assert client.get(f"/api/v1/catalog/listings/{listing['id']}").status_code == 404  # anonymous, not listed


def test_portal_pages_render(client, products, make, registration, db, merchant) -> None:  # type: ignore[no-untyped-def]
    search = client.get("/catalog", params={"q": "交通"})
    assert search.status_code == 200
    assert "贵阳交通卡口数据" in search.text
    assert client.get("/catalog", params={"industry": "S"}).status_code == 200
    page = client.get(f"/catalog/{products[0].id}")
    assert page.status_code == 200
    assert "贵阳交通卡口数据" in page.text
    assert "价格方案" in page.text
    from qianshu.accounts.models import Organisation

    seller = db.get(Organisation, merchant.org_id)
    assert f'<dd id="seller"><a href="/organisations/{seller.id}">' in page.text  # who sells it
    assert seller.name in page.text
    assert client.get("/demands").status_code == 200
    assert client.get("/catalog/999999").status_code == 404
    assert client.get("/catalog/mine").status_code in (401, 303, 200)


def test_signed_in_portal_flow(client, make, registration, db) -> None:  # type: ignore[no-untyped-def]
    from tests.accounts.test_portal import csrf, sign_in

    user = make.user()
    reg = registration(make.actor(user), title_zh="铜仁旅游客流数据")
    operator = make.operator()
    buyer = make.user(organisation=make.org(org_type="buyer"))
    sign_in(client, user.email)
    assert "铜仁旅游客流数据" in client.get("/catalog/mine").text
    token = csrf(client, "/catalog/mine")
    created = client.post(
        "/catalog/mine",
        data={"registration_id": reg.id, "data_type": "table", "tags": "旅游, tourism", "csrf_token": token},
        follow_redirects=False,
    )
    assert created.status_code == 303
    editor_url = created.headers["location"]
    listing_id = int(editor_url.split("/")[2])
    assert client.get(editor_url).status_code == 200
    plan = client.post(
        f"/catalog/{listing_id}/plans",
        data={
            "kind": "one_time",
            "price": "800",
            "delivery_modes": ["download"],
            "purposes": ["research"],
            "term_days": "30",
            "territory": "CN",
            "attribution": "on",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert plan.status_code == 303
    assert (
        client.post(f"/catalog/{listing_id}/submit", data={"csrf_token": token}, follow_redirects=False).status_code
        == 303
    )
    client.post("/sign-out", data={"csrf_token": csrf(client, "/")})
    sign_in(client, operator.email)
    assert "铜仁旅游客流数据" in client.get("/operator/listings").text
    token = csrf(client, "/operator/listings")
    assert (
        client.post(
            f"/operator/listings/{listing_id}/approve", data={"csrf_token": token}, follow_redirects=False
        ).status_code
        == 303
    )
    client.post("/sign-out", data={"csrf_token": csrf(client, "/")})
    sign_in(client, buyer.email)
    token = csrf(client, f"/catalog/{listing_id}")
    assert (
        client.post(f"/catalog/{listing_id}/follow", data={"csrf_token": token}, follow_redirects=False).status_code
        == 303
    )
    assert "铜仁旅游客流数据" in client.get("/catalog/follows").text
    posted = client.post(
        "/demands", data={"title": "需要铜仁旅游数据", "is_public": "on", "csrf_token": token}, follow_redirects=False
    )
    assert posted.status_code == 303
    assert client.get(posted.headers["location"]).status_code == 200


def test_result_counts_use_plural_forms_in_both_languages(client, products) -> None:  # type: ignore[no-untyped-def]
    one = {"q": "Guiyang traffic"}
    client.cookies.set("qs_lang", "en")
    english = client.get("/catalog", params=one)
    assert english.status_code == 200
    assert '<p class="muted">1 product</p>' in english.text  # it used to say "1 products"
    assert '<p class="muted">2 products</p>' in client.get("/catalog").text
    client.cookies.set("qs_lang", "zh")
    assert '<p class="muted">共 1 个产品</p>' in client.get("/catalog", params=one).text


def test_prices_are_formatted_for_the_language(client, products) -> None:  # type: ignore[no-untyped-def]
    client.cookies.set("qs_lang", "en")
    english = client.get(f"/catalog/{products[0].id}").text
    client.cookies.set("qs_lang", "zh")
    chinese = client.get(f"/catalog/{products[0].id}").text
    assert "CN¥" in english  # CLDR's English format for yuan
    assert "¥" in chinese
    assert "CN¥" not in chinese


def test_the_product_page_names_column_types_in_the_readers_language(client, products, db) -> None:  # type: ignore[no-untyped-def]
    from qianshu.registry.models import ColumnProfile

    for position, (name, kind) in enumerate((("卡口编号", "text"), ("过车数", "integer"), ("日期", "date"))):
        db.add(ColumnProfile(registration_id=products[0].registration_id, position=position, name=name,
                             inferred_type=kind))
    db.flush()
    for lang, expected in (("zh", ["文本", "整数", "日期"]), ("en", ["Text", "Integer", "Date"])):
        client.cookies.set("qs_lang", lang)
        page = client.get(f"/catalog/{products[0].id}")
        assert page.status_code == 200
        assert [t.split("</td>")[0] for t in page.text.split('class="column-type">')[1:]] == expected
