"""The portal pages: catalogue, resource and request form (errors beside their fields, nothing
written), the owner's inbox with its decision (a second decision: a bilingual 409), my requests
and the access log, in both languages."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from qianshu.accounts import service as accounts
from qianshu.sharing.models import SharingRequest


def _browser(client, db, settings, user, lang: str = "zh"):  # type: ignore[no-untyped-def]
    raw = accounts.start_session(db, settings, user, "127.0.0.1", "test")
    db.flush()
    client.cookies.clear()
    client.cookies.set("qs_session", raw)
    client.get(f"/lang/{lang}?next=/")
    home = client.get("/")
    return re.search(r'name="csrf-token" content="([0-9a-f]+)"', home.text).group(1)  # type: ignore[union-attr]


def test_catalogue_resource_and_request_form(client, db, settings, world) -> None:  # type: ignore[no-untyped-def]
    token = _browser(client, db, settings, world.other)
    page = client.get("/sharing")
    assert page.status_code == 200
    assert "政务数据资源目录" in page.text
    assert "有条件共享" in page.text
    resource = client.get(f"/sharing/resources/{world.conditional}")
    assert "仅用于防返贫监测" in resource.text
    assert 'name="purpose"' in resource.text
    before = db.scalar(select(func.count()).select_from(SharingRequest))
    bad = client.post("/sharing/requests", data={
        "csrf_token": token, "resource_id": world.conditional, "purpose": "监测", "fields": ["resident_id"],
        "period_start": "2026-12-31", "period_end": "2026-01-01"})
    assert bad.status_code == 422
    assert "早于" in bad.text
    assert db.scalar(select(func.count()).select_from(SharingRequest)) == before
    refused = client.post("/sharing/requests", data={
        "csrf_token": token, "resource_id": world.not_shared, "purpose": "监测", "fields": ["resident_id"],
        "period_start": "2026-01-01", "period_end": "2026-12-31"})
    assert refused.status_code == 409
    assert "不予共享" in refused.text
    made = client.post("/sharing/requests", data={
        "csrf_token": token, "resource_id": world.conditional, "purpose": "监测",
        "fields": ["resident_id", "assistance"], "period_start": "2026-01-01", "period_end": "2026-12-31"},
        follow_redirects=False)
    assert made.status_code == 303
    assert client.get("/sharing/requests?box=mine").text.count("待审核") >= 1


def test_owner_decides_in_the_inbox_and_a_second_decision_gets_409(client, db, make, settings, world) -> None:  # type: ignore[no-untyped-def]
    from tests.sharing.conftest import ask

    row = ask(db, make, world.other, settings, world.conditional)
    db.flush()
    token = _browser(client, db, settings, world.owner, "en")
    inbox = client.get("/sharing/requests?box=incoming")
    assert inbox.status_code == 200
    assert f"/sharing/requests/{row.id}" in inbox.text
    detail = client.get(f"/sharing/requests/{row.id}")
    assert "Approve as asked" in detail.text
    assert "Decide by" in detail.text
    no_reason = client.post(f"/sharing/requests/{row.id}/decision", data={"csrf_token": token, "decision": "reject"})
    assert no_reason.status_code == 422
    assert "Say why" in no_reason.text
    ok = client.post(f"/sharing/requests/{row.id}/decision",
                     data={"csrf_token": token, "decision": "narrow", "fields": ["resident_id"]},
                     follow_redirects=False)
    assert ok.status_code == 303
    again = client.post(f"/sharing/requests/{row.id}/decision", data={"csrf_token": token, "decision": "approve"})
    assert again.status_code == 409
    assert "This request is already narrowed" in again.text
    # decided, it has no deadline left to show
    assert "Decide by" not in client.get(f"/sharing/requests/{row.id}").text
    assert str(row.due_on) not in client.get("/sharing/requests?box=incoming").text
    api = client.post(f"/api/v1/sharing/requests/{row.id}/decision", json={"decision": "approve"},
                      headers={"X-CSRF-Token": token, "Accept-Language": "zh"})
    assert api.status_code in (403, 409)  # a cookie-signed API call may be refused by CSRF first
    assert client.get("/sharing/accesses").status_code == 200

