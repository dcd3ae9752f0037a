"""The app starts, serves the home page in both languages and the API document."""


def test_home_in_chinese_by_default(client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert 'lang="zh-CN"' in page.text


def test_openapi_document(client) -> None:
    assert client.get("/api/openapi.json").json()["info"]["title"] == "Qianshu API"


def test_api_error_is_problem_json(client) -> None:
    r = client.get("/api/v1/organisations", headers={"Accept-Language": "en"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "not_authenticated"


def test_authenticated_api_call(client, make, bearer) -> None:
    op = make.operator()
    r = client.get("/api/v1/organisations", headers=bearer(op))
    assert r.status_code == 200, r.text
