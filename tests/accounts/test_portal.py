"""The portal as a person uses it: sign in, CSRF, throttling, language, invitations, tokens."""

from __future__ import annotations

import re

from qianshu.accounts.models import User
from tests.factories import TEST_PASSWORD


def csrf(client, path: str = "/sign-in") -> str:
    page = client.get(path).text
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client, email: str, password: str = TEST_PASSWORD):  # type: ignore[no-untyped-def]
    token = csrf(client)
    return client.post("/sign-in", data={"email": email, "password": password, "csrf_token": token},
                       follow_redirects=False)


def test_sign_in_and_out(client, make) -> None:
    user = make.user()
    r = sign_in(client, user.email)
    assert r.status_code == 303
    assert "qs_session" in r.cookies
    assert user.display_name in client.get("/").text
    token = csrf(client, "/")
    assert client.post("/sign-out", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert client.get("/org").status_code == 401


def test_wrong_password_and_unknown_account_look_the_same(client, make) -> None:
    user = make.user()
    wrong = sign_in(client, user.email, "not-the-password")
    unknown = sign_in(client, "nobody@nowhere.cn", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "电子邮箱或密码错误" in wrong.text
    assert "电子邮箱或密码错误" in unknown.text


def test_repeated_failures_are_throttled(client, make, settings) -> None:
    user = make.user()
    for _ in range(settings.login_max_failures):
        assert sign_in(client, user.email, "wrong-password").status_code == 401
    r = sign_in(client, user.email)  # even the right password now waits
    assert r.status_code == 429
    assert "分钟后再试" in r.text


def test_forged_or_missing_csrf_is_refused(client, make) -> None:
    user = make.user()
    r = client.post("/sign-in", data={"email": user.email, "password": TEST_PASSWORD}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/sign-in", data={"email": user.email, "password": TEST_PASSWORD, "csrf_token": "0" * 64},
                    follow_redirects=False)
    assert r.status_code == 403
    assert "表单已过期" in r.text
    assert sign_in(client, user.email).status_code == 303
    # a signed-in browser's API call without the header is refused too
    r = client.post("/api/v1/tokens", json={"name": "x"})
    assert r.status_code == 403
    assert r.json()["code"] == "csrf_failed"


def test_language_switch_is_remembered(client) -> None:
    assert "登录" in client.get("/sign-in").text
    r = client.get("/lang/en?next=/sign-in", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/sign-in"
    page = client.get("/sign-in").text
    assert 'lang="en"' in page
    assert "Sign in" in page


def test_language_switch_is_no_open_redirect(client) -> None:
    r = client.get("/lang/en?next=//evil.example/", follow_redirects=False)
    assert r.headers["location"] == "/"


def test_apply_in_the_portal(client) -> None:
    from tests.accounts.test_organisations import application

    token = csrf(client, "/apply")
    data = {k: str(v) for k, v in application().items()}
    r = client.post("/apply", data={**data, "csrf_token": token})
    assert r.status_code == 201
    assert "已提交入驻申请" in r.text
    r = client.post("/apply", data={**data, "csrf_token": token})
    assert r.status_code == 409
    assert "已存在" in r.text
    assert data["password"] not in r.text  # never echo the password back


def test_operator_approves_in_the_portal(client, make) -> None:
    pending = make.org(status="pending", name="待审核数据公司")
    op = make.operator()
    sign_in(client, op.email)
    page = client.get("/operator/organisations").text
    assert "待审核数据公司" in page
    token = csrf(client, "/operator/organisations")
    r = client.post(f"/operator/organisations/{pending.id}/approve", data={"csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/operator/organisations/{pending.id}/approve", data={"csrf_token": token})
    assert r.status_code == 409


def test_invite_accept_and_remove(client, make, db, settings) -> None:
    admin = make.user()
    sign_in(client, admin.email)
    token = csrf(client, "/org")
    r = client.post("/org/invitations", data={"csrf_token": token, "email": "new@x.cn", "display_name": "新同事",
                                              "org_role": "member"}, headers={"Host": "evil.example"})
    assert r.status_code == 200, r.text
    link = re.search(r'<code id="invite-url">([^<]+)</code>', r.text).group(1)  # type: ignore[union-attr]
    assert link.startswith(settings.public_base + "/invite/")  # the public address, not the Host header
    path = link.replace(settings.public_base, "")
    client.cookies.clear()
    token = csrf(client, path)
    assert client.post(path, data={"csrf_token": token, "password": "another-long-password"},
                       follow_redirects=False).status_code == 303
    assert client.get(path).status_code == 404  # used once
    assert sign_in(client, "new@x.cn", "another-long-password").status_code == 303
    colleague = db.query(User).filter_by(email="new@x.cn").one()
    client.cookies.clear()
    sign_in(client, admin.email)
    token = csrf(client, "/org")
    assert client.post(f"/org/users/{colleague.id}/remove", data={"csrf_token": token},
                       follow_redirects=False).status_code == 303
    client.cookies.clear()
    assert sign_in(client, "new@x.cn", "another-long-password").status_code == 401


def test_audit_trail_page_filters(client, make) -> None:
    auditor = make.operator(staff_role="auditor")
    sign_in(client, auditor.email)
    page = client.get("/audit?action=user.signed_in").text
    assert ">登录</td>" in page  # the action in words; its key only as a tooltip
    assert 'title="user.signed_in"' in page
    assert "token.created" not in page  # filtered out
    assert client.get("/audit?page=-5&org_id=abc").status_code == 200


def test_audit_details_read_as_written(client, db, make) -> None:  # type: ignore[no-untyped-def]
    from qianshu.core import audit

    auditor = make.operator(staff_role="auditor")
    audit.record(db, make.actor(auditor), "organisation.applied", target_type="organisation", target_id=7,
                 detail={"name": "贵阳数据有限公司"})
    db.commit()
    sign_in(client, auditor.email)
    client.cookies.set("qs_lang", "en")
    page = client.get("/audit?action=organisation.").text
    assert ">Organisation applied</td>" in page
    assert "贵阳数据有限公司" in page  # not \u8d35\u9633...
    assert "\\u8d35" not in page
