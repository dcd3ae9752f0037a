"""The home page: a search box and the exchange's headline figures for everyone; for a signed-in
user, what waits for them, in words that agree with the count in both languages, and what the
policy says of their standing (``web.read_models.home``)."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from qianshu.registry.models import Registration
from tests.accounts.test_form_errors import visible_text
from tests.accounts.test_portal import csrf
from tests.accounts.test_portal import sign_in as sign_in_by_email
from tests.factories import Factories
from tests.registry.helpers import sign_in


def _registration(db: Session, holder_org_id: int, status: str, n: int) -> None:
    db.add(Registration(holder_org_id=holder_org_id, status=status, title_zh=f"首页测试{n}", title_en=f"Home {n}"))
    db.flush()


def _figure(page: str, label: str) -> int:
    found = re.search(r"<strong>([\d,]+)</strong><span>" + re.escape(label) + "</span>", page)
    assert found is not None, f"no figure {label!r}"
    return int(found.group(1).replace(",", ""))


def test_anyone_can_search_and_sees_the_figures(client, db: Session, make: Factories) -> None:  # type: ignore[no-untyped-def]
    merchant = make.org(org_type="data_merchant")
    for n, status in enumerate(("issued", "issued", "public_notice", "draft")):
        _registration(db, merchant.id, status, n)
    db.commit()
    page = client.get("/").text  # the portal speaks Chinese until the visitor chooses
    assert 'action="/catalog"' in page
    assert 'name="q"' in page
    assert _figure(page, "已发登记证书") == 2
    assert _figure(page, "公示中") == 1
    assert "待您处理" not in page  # nothing waits for an anonymous visitor
    client.cookies.set("qs_lang", "en")
    english = client.get("/").text
    assert _figure(english, "Certificates issued") == 2


def test_a_reviewer_sees_registrations_awaiting_review(client, db: Session, make: Factories) -> None:  # type: ignore[no-untyped-def]
    merchant = make.org(org_type="data_merchant")
    _registration(db, merchant.id, "submitted", 1)
    reviewer = make.operator(staff_role="reviewer")
    db.commit()
    sign_in(client, reviewer)
    client.cookies.set("qs_lang", "en")
    page = client.get("/").text
    assert "Waiting for you" in page
    assert '<a href="/registry/review">1 registration awaits review</a>' in page  # singular for one
    _registration(db, merchant.id, "submitted", 2)
    db.commit()
    assert '<a href="/registry/review">2 registrations await review</a>' in client.get("/").text


def test_a_holder_sees_only_their_own_work(client, db: Session, make: Factories) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = make.org(org_type="data_merchant"), make.org(org_type="data_merchant")
    user = make.user(organisation=mine)
    _registration(db, mine.id, "returned", 1)
    _registration(db, theirs.id, "returned", 2)
    _registration(db, theirs.id, "failed", 3)
    db.commit()
    sign_in(client, user)
    page = client.get("/").text
    assert '<a href="/registry">您有 1 项登记需要处理</a>' in page
    assert "待审核" not in page  # review queues are staff work


def test_a_pending_organisation_is_told_and_only_outsiders_are_offered_joining(client, make: Factories) -> None:  # type: ignore[no-untyped-def]
    client.cookies.set("qs_lang", "en")
    assert 'class="tile" href="/apply"' in client.get("/").text  # anonymous: the tile
    waiting = make.user(organisation=make.org(status="pending"))
    sign_in_by_email(client, waiting.email)
    page = client.get("/").text
    assert "Your organisation is Pending review" in visible_text(page)
    assert 'class="tile" href="/apply"' not in page  # a member does not apply again
    client.post("/sign-out", data={"csrf_token": csrf(client, "/")})
    member = make.user()
    sign_in_by_email(client, member.email)
    page = client.get("/").text
    assert "Your organisation is" not in visible_text(page)
