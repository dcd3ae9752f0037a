"""The CSRF token is bound to the session: it changes when the signed-in session changes, so a
token from one session (or from before signing in) is refused in another."""

from __future__ import annotations

from qianshu.accounts.deps import SESSION_COOKIE
from qianshu.core import csrf
from tests.factories import TEST_PASSWORD
from tests.registry.helpers import csrf_of


def _sign_in(client, user) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/sign-in", data={"email": user.email, "password": TEST_PASSWORD,
                                      "csrf_token": csrf_of(client.get("/sign-in"))}, follow_redirects=False)
    assert r.status_code == 303


def _new_registration(client, token: str):  # type: ignore[no-untyped-def]
    return client.post("/registry/new", data={"title_zh": "绑定", "csrf_token": token}, follow_redirects=False)


def test_the_session_cookie_names_agree() -> None:
    assert csrf.SESSION_COOKIE == SESSION_COOKIE


def test_a_token_works_only_in_the_session_that_rendered_it(client, make) -> None:
    first = make.user(organisation=make.org(org_type="data_merchant"))
    second = make.user(organisation=make.org(org_type="data_merchant"))
    anonymous = csrf_of(client.get("/sign-in"))

    _sign_in(client, first)
    in_first = csrf_of(client.get("/registry"))
    assert in_first != anonymous
    refused = _new_registration(client, anonymous)  # a token from before signing in
    assert refused.status_code == 403
    assert "表单已过期" in refused.text
    assert _new_registration(client, in_first).status_code == 303

    client.post("/sign-out", data={"csrf_token": in_first})
    _sign_in(client, second)  # the same browser (the same CSRF cookie), another session
    in_second = csrf_of(client.get("/registry"))
    assert in_second not in {in_first, anonymous}
    assert _new_registration(client, in_first).status_code == 403
    assert client.post("/api/v1/registrations", json={}, headers={"X-CSRF-Token": in_first}).status_code == 403
    assert _new_registration(client, in_second).status_code == 303


def test_anonymous_forms_keep_working(client) -> None:
    token = csrf_of(client.get("/apply"))
    r = client.post("/apply", data={"csrf_token": token, "name": ""})
    assert r.status_code != 403  # the form's own validation answers, not the CSRF check
    wrong = client.post("/sign-in", data={"email": "a@b.cn", "password": "x", "csrf_token": token})
    assert wrong.status_code == 401
