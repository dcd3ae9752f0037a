"""The app starts, serves the home page in both languages and the API document."""

import re


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


def test_probes(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.head("/healthz").status_code == 200
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok"}


def test_every_response_carries_the_security_headers(client) -> None:
    for path in ("/", "/api/v1/catalog/search?q=交通", "/api/v1/organisations", "/no-such-page", "/healthz"):
        r = client.get(path)
        assert "default-src 'self'" in r.headers["content-security-policy"], path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "same-origin"


def test_the_csrf_cookie_is_given_to_portal_pages_only(client) -> None:
    assert "qs_csrf" not in client.get("/api/v1/catalog/search").cookies
    assert "set-cookie" not in client.get("/healthz").headers  # the probe costs no random value and HMAC
    page = client.get("/")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("qs_csrf=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # only in production (HTTPS)
    assert "set-cookie" not in client.get("/").headers  # kept, not replaced on every page
    client.cookies.clear()
    client.cookies.set("qs_csrf", "x" * 500)  # not one of ours: replaced
    assert client.get("/").headers["set-cookie"].startswith("qs_csrf=")


def test_language_of_pages_and_api(client) -> None:
    assert 'lang="zh-CN"' in client.get("/", headers={"Accept-Language": "en"}).text  # the portal: cookie only
    r = client.get("/api/v1/organisations", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert r.json()["detail"] == "Please sign in first."
    assert r.headers["content-language"] == "en"
    client.cookies.set("qs_lang", "en")
    assert 'lang="en"' in client.get("/").text


def test_the_api_reference_page_runs_no_inline_script(client) -> None:
    page = client.get("/api/docs", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, flags=re.S)
    assert scripts
    assert all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for attrs, _body in scripts:
        src = re.search(r'src="([^"]+)"', attrs).group(1)  # type: ignore[union-attr]
        assert client.get(src).status_code == 200, src
    bundle = client.get("/static/swagger/swagger-ui-bundle.js").text
    assert 'PACKAGE_VERSION:"5.' in bundle  # Swagger UI 5: it reads OpenAPI 3.1
