"""The portal's appeal forms with parts: the requester ticks the fields left out that it asks back
and gives the period; the bureau grants part of it; refusals beside their fields, nothing written."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from qianshu.sharing.models import SharingAppeal, SharingRequest
from tests.sharing.test_appeals import _narrowed
from tests.sharing.test_pages import _browser


def test_a_narrowing_is_appealed_in_part_and_granted_in_part_in_the_portal(client, db, make, settings, world) -> None:  # type: ignore[no-untyped-def]
    row = _narrowed(db, make, settings, world)  # resident_id of resident_id, assistance; from 1 July
    db.flush()
    token = _browser(client, db, settings, world.other)
    page = client.get(f"/sharing/requests/{row.id}").text
    assert 'name="fields" value="assistance" checked' in page
    assert 'name="fields" value="resident_id"' not in page  # granted already: not offered
    nothing = client.post(f"/sharing/requests/{row.id}/appeal", data={
        "csrf_token": token, "parts": "1", "reason": "需要", "period_start": "2026-07-01", "period_end": "2026-12-31"})
    assert nothing.status_code == 422
    assert 'id="f-appeal-fields" aria-invalid="true"' in nothing.text
    assert "请至少选择一个字段" in nothing.text
    assert db.scalar(select(SharingAppeal.id).where(SharingAppeal.request_id == row.id)) is None
    filed = client.post(f"/sharing/requests/{row.id}/appeal", data={
        "csrf_token": token, "parts": "1", "reason": "需要全年的救助类别", "fields": ["assistance"],
        "period_start": "2026-01-01", "period_end": "2026-12-31"}, follow_redirects=False)
    assert filed.status_code == 303
    token = _browser(client, db, settings, world.bureau, "en")
    page = client.get(f"/sharing/requests/{row.id}").text
    assert "Grant part of the appeal" in page
    assert re.search(r'id="appeal-fields"><span class="resource-field"><code>assistance</code>[^;]*</span></dd>', page)
    bare = client.post(f"/sharing/requests/{row.id}/appeal/decision", data={
        "csrf_token": token, "parts": "1", "decision": "grant_part", "period_start": "2026-03-01",
        "period_end": "2026-12-31"})
    assert bare.status_code == 422
    assert 'id="f-appeal_decision-reason" aria-invalid="true"' in bare.text
    done = client.post(f"/sharing/requests/{row.id}/appeal/decision", data={
        "csrf_token": token, "parts": "1", "decision": "grant_part", "period_start": "2026-03-01",
        "period_end": "2026-12-31", "reason": "Assistance kinds are not shared; the period is"},
        follow_redirects=False)
    assert done.status_code == 303
    shown = client.get(f"/sharing/requests/{row.id}").text
    assert "Granted in part" in shown
    assert "Sharing appeal granted in part" in shown  # the timeline
    grant = db.get_one(SharingRequest, row.id)
    db.refresh(grant)
    assert (grant.status, grant.granted_fields) == ("narrowed", ["resident_id"])
    assert (grant.granted_start, grant.granted_end) == (dt.date(2026, 3, 1), dt.date(2026, 12, 31))
