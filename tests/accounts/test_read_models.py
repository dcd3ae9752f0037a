"""The organisation page offers what the policy lets the viewer do, read from one read model
(``accounts.read_models.my_organisation``), not from role, status or organisation-type checks in its
template."""

from __future__ import annotations

import re

import pytest

from qianshu.accounts import read_models
from qianshu.core.i18n import LANG_COOKIE
from qianshu.core.jobs import Job
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


def test_the_organisation_review_offers_each_organisation_the_decisions_its_status_allows(db, make) -> None:  # type: ignore[no-untyped-def]
    pending, approved = make.org(status="pending"), make.org(status="approved")
    suspended, rejected = make.org(status="suspended"), make.org(status="rejected")
    operator = make.actor(make.operator())
    view = read_models.organisation_review(db, operator, "")
    assert view.status == ""
    decisions = view.may_decide
    assert (decisions[pending.id], decisions[approved.id]) == (("approve", "reject"), ("suspend",))
    assert (decisions[suspended.id], decisions[rejected.id]) == (("approve",), ())
    exchange = next(o for o in view.organisations if o.org_type == "exchange_operator")
    assert decisions[exchange.id] == ()  # the exchange itself is never reviewed
    assert read_models.organisation_review(db, operator, "nonsense").status == "pending"
    reviewer = read_models.organisation_review(db, make.actor(make.operator(staff_role="reviewer")), "pending")
    assert pending.id in {o.id for o in reviewer.organisations}
    assert reviewer.may_decide == {}  # the list only: deciding is an operator's


def test_a_reviewer_sees_the_review_list_without_the_decisions(client, db, make) -> None:  # type: ignore[no-untyped-def]
    pending = make.org(status="pending")
    sign_in(client, make.operator(staff_role="reviewer").email)
    page = client.get("/operator/organisations").text
    assert f'data-org="{pending.id}"' in page
    assert f"/operator/organisations/{pending.id}/approve" not in page
    client.cookies.clear()
    sign_in(client, make.operator().email)
    assert f"/operator/organisations/{pending.id}/approve" in client.get("/operator/organisations").text


def test_the_job_queue_offers_a_retry_of_failed_jobs_only(db, make) -> None:  # type: ignore[no-untyped-def]
    failed = Job(kind="test.report", payload={}, status="failed")
    running = Job(kind="test.report", payload={}, status="running")
    db.add_all([failed, running])
    db.flush()
    view = read_models.job_queue(db, make.actor(make.operator()), "en")
    assert {j.id for j in view.jobs} >= {failed.id, running.id}
    assert view.may_retry == {failed.id}
    assert read_models.job_queue(db, make.actor(make.operator()), "en", "bogus").status == ""
