"""A person in a browser: sign in, switch language, approve an organisation."""

from __future__ import annotations

import pytest

from qianshu.demo.datasets import span  # the demo's data covers two years up to yesterday
from qianshu.demo.seed import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def sign_in(page, email: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("#sign-in-submit")
    page.wait_for_load_state()


def test_sign_in_shows_the_users_name(page) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, "operator@qianshu.demo")
    assert page.locator(".who").inner_text() == "运营员 林"
    assert page.locator("text=机构审核").count() >= 1


def test_wrong_password_is_told_in_chinese(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/sign-in")
    page.fill("input[name=email]", "operator@qianshu.demo")
    page.fill("input[name=password]", "wrong-password-here")
    page.click("#sign-in-submit")
    assert "电子邮箱或密码错误" in page.locator(".error").inner_text()


def test_switch_language_and_it_is_remembered(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/sign-in")
    assert page.locator("h1").inner_text() == "登录"
    page.click("#lang-en")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Sign in"
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "en"
    page.click("#lang-zh")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-CN"


def test_operator_approves_a_pending_organisation(page) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, "operator@qianshu.demo")
    page.goto("/operator/organisations?status=pending")
    row = page.locator("tr", has_text="安顺文旅数据有限公司")
    assert row.count() == 1
    row.locator("button.approve").click()
    page.wait_for_load_state()
    assert page.locator("tr", has_text="安顺文旅数据有限公司").count() == 0
    page.goto("/operator/organisations?status=approved")
    assert page.locator("tr", has_text="安顺文旅数据有限公司").count() == 1



@pytest.mark.parametrize(("query", "expected"), [("交通", "交通"), ("医保", "医保"), ("气象", "气象"),
                                                 (f"贵阳 traffic {span()[0].year}", "贵阳市道路交通流量数据")])
def test_the_demo_catalogue_answers_a_newcomers_searches(page, query: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/catalog")
    page.fill("input[name=q]", query)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    products = page.locator("article.product")
    assert products.count() >= 1
    assert expected in products.first.inner_text() or page.locator("article.product", has_text=expected).count()
