"""The organisation page offers what the policy lets the viewer do, read from one read model
(``accounts.read_models.my_organisation``), not from role, status or organisation-type checks in its
template."""

from __future__ import annotations

import re

import pytest

from qianshu.accounts import read_models
from qianshu.core.i18n import LANG_COOKIE
from tests.accounts.test_form_errors import beside
from tests.accounts.test_portal import csrf, sign_in


def _role_options(page: str) -> list[str]:
    select = re.search(r'<select name="org_role".*?</select>', page, flags=re.S)
    assert select, "no role choice on the page"
    return re.findall(r'<option value="([a-z_]+)"', select.group(0))


@pytest.mark.parametrize(("org_type", "roles"), [
    ("government", ["member", "admin", "monitoring_admin"]),
    ("data_merchant", ["member", "admin"]),
    ("bank", ["member", "admin"]),
])
def test_an_invitation_offers_the_roles_of_the_organisations_type(client, make, org_type, roles) -> None:
    admin = make.user(organisation=make.org(org_type=org_type))
    sign_in(client, admin.email)
    assert _role_options(client.get("/org").text) == roles


def test_a_role_the_type_has_no_use_for_is_refused_beside_the_field(client, db, make) -> None:
    admin = make.user(organisation=make.org(org_type="data_merchant"))
    sign_in(client, admin.email)
    for lang, words in (("zh", "该类型的机构没有这个角色"), ("en", "An organisation of this type has no such role")):
        client.cookies.set(LANG_COOKIE, lang)
        r = client.post("/org/invitations", data={"csrf_token": csrf(client, "/org"), "display_name": "李雷",
                                                   "email": f"li.{lang}@example.cn", "org_role": "monitoring_admin"})
        assert r.status_code == 422
        assert words in beside(r.text, "org_role")
        assert 'value="李雷"' in r.text


def test_the_remove_button_is_offered_for_colleagues_only(client, db, make) -> None:
    org = make.org(org_type="data_merchant")
    admin, colleague = make.user(organisation=org), make.user(organisation=org, org_role="member")
    view = read_models.my_organisation(db, make.actor(admin))
    assert view.may.invite
    assert view.may.remove == frozenset({colleague.id})
    assert not read_models.my_organisation(db, make.actor(colleague)).may.invite
    sign_in(client, admin.email)
    page = client.get("/org").text
    assert f'action="/org/users/{colleague.id}/remove"' in page
    assert f'action="/org/users/{admin.id}/remove"' not in page
