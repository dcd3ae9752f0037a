"""A signed-in user sees their inbox and their organisation's: unread count in the header, a page
with mark-as-read, and the API."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from qianshu.core import inbox
from tests.factories import Factories
from tests.registry.helpers import csrf_of, sign_in


def _badge(html: str) -> str | None:
    found = re.search(r'id="inbox-link"[^>]*>[^<]*(?:<span class="badge"[^>]*>(\d+)</span>)?', html)
    assert found is not None, "no inbox link in the header"
    return found.group(1)


def test_the_header_counts_unread_and_the_page_marks_read(client, db: Session, make: Factories) -> None:  # type: ignore[no-untyped-def]
    org = make.org()
    alice, colleague = make.user(organisation=org), make.user(organisation=org)
    inbox.notify(db, "catalog", "The product “{title}” you follow was updated.", users=[alice.id],
                 link="/catalog/1", title_zh="遵义茶叶价格", title_en="Zunyi tea prices")
    inbox.notify(db, "registry", "The product “{title}” you follow was paused.", org_id=org.id, title="共享")
    inbox.notify(db, "catalog", "The product “{title}” you follow was paused.", users=[colleague.id], title="别人的")
    db.commit()
    sign_in(client, alice)
    client.cookies.set("qs_lang", "en")
    home = client.get("/")
    assert _badge(home.text) == "2"
    assert "2 unread notifications" in home.text
    page = client.get("/inbox")
    assert page.status_code == 200
    assert "The product “Zunyi tea prices” you follow was updated." in page.text
    assert "For your organisation" in page.text
    assert "别人的" not in page.text  # a colleague's own notification is theirs
    [own_id] = [n.id for n in inbox.inbox(db, make.actor(alice)) if not n.for_organisation]
    r = client.post("/inbox/read", data={"csrf_token": csrf_of(page), "id": str(own_id)}, follow_redirects=False)
    assert r.status_code == 303
    assert _badge(client.get("/inbox").text) == "1"
    client.cookies.set("qs_lang", "zh")
    assert "1 条未读消息" in client.get("/inbox").text
    client.post("/inbox/read", data={"csrf_token": csrf_of(page)})
    assert _badge(client.get("/inbox?unread=true").text) is None


def test_the_api_lists_counts_and_marks_read(client, db: Session, make: Factories, bearer) -> None:  # type: ignore[no-untyped-def]
    org = make.org()
    alice = make.user(organisation=org)
    inbox.notify(db, "catalog", "The product “{title}” you follow was updated.", users=[alice.id],
                 subject=("listing", 3), link="/catalog/3", title_zh="茶", title_en="Tea")
    inbox.notify(db, "registry", "The product “{title}” you follow was paused.", org_id=org.id, title="x")
    headers = bearer(alice)
    assert client.get("/api/v1/inbox/unread", headers=headers).json() == {"user": 1, "organisation": 1, "total": 2}
    listed = client.get("/api/v1/inbox?unread=true", headers={**headers, "Accept-Language": "en"}).json()
    assert [(n["for_organisation"], n["read"]) for n in listed] == [(True, False), (False, False)]
    assert listed[1]["text"] == "The product “Tea” you follow was updated."
    assert (listed[1]["subject_type"], listed[1]["subject_id"], listed[1]["link"]) == ("listing", 3, "/catalog/3")
    r = client.post("/api/v1/inbox/read", json={"ids": [listed[1]["id"]]}, headers=headers)
    assert r.json() == {"marked": 1}
    assert client.get("/api/v1/inbox/unread", headers=headers).json()["total"] == 1
    assert client.post("/api/v1/inbox/read", json={}, headers=headers).json() == {"marked": 1}
    assert client.get("/api/v1/inbox?unread=true", headers=headers).json() == []
    assert client.get("/api/v1/inbox").status_code == 401
    assert client.get("/api/v1/inbox/unread").status_code == 401
