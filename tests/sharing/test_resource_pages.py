"""The portal forms of a resource's owner: publishing (and changing) a resource, its sandbox
policy, and revoking a grant, with every error beside its field and nothing written, in both
languages."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from qianshu.sharing import schemas, service
from qianshu.sharing.models import SharingRequest, SharingResource
from tests.sharing.conftest import ask
from tests.sharing.test_pages import _browser


def _resource_form(token: str, **extra: Any) -> dict[str, Any]:
    data = {"csrf_token": token, "code": "dibao_households", "name_zh": "低保户名单",
            "name_en": "Minimum-living households",
            "fields.0.name": "resident_id", "fields.0.type": "string", "fields.0.meaning_zh": "公民身份号码",
            "fields.0.meaning_en": "Resident ID", "fields.1.name": "amount_fen", "fields.1.type": "integer",
            "fields.1.meaning_zh": "月救助金额（分）", "fields.1.meaning_en": "",
            "fields.2.name": "", "fields.2.type": "", "fields.2.meaning_zh": "", "fields.2.meaning_en": "",
            "update_frequency": "monthly", "legal_basis": "《社会救助暂行办法》", "sharing_class": "conditional",
            "conditions": "仅用于防返贫监测"}
    data.update(extra)
    return data


def test_a_department_publishes_a_resource_with_the_form(client, db, settings, world) -> None:  # type: ignore[no-untyped-def]
    token = _browser(client, db, settings, world.owner)
    assert "/sharing/resources/new" in client.get("/sharing").text
    page = client.get("/sharing/resources/new")
    assert page.status_code == 200
    assert "发布数据资源" in page.text
    assert 'name="fields.0.name"' in page.text
    assert "Resource" not in page.text  # no English on the Chinese page
    before = db.scalar(select(func.count()).select_from(SharingResource))
    # a bad field name in row 2, a conditional resource without conditions, no legal basis
    bad = client.post("/sharing/resources", data=_resource_form(
        token, **{"fields.1.name": "Amount Fen", "conditions": "", "legal_basis": ""}))
    assert bad.status_code == 422
    assert db.scalar(select(func.count()).select_from(SharingResource)) == before
    assert re.search(r'id="f-resource-fields-1-name"[^>]*aria-invalid="true"', bad.text)
    assert 'id="f-resource-fields-1-name-error"' in bad.text
    assert 'id="f-resource-legal-basis-error"' in bad.text
    assert "共享依据" in bad.text
    assert 'value="Amount Fen"' in bad.text  # the input is kept
    # the service's own check: conditions of a conditional resource, beside its field
    missing = client.post("/sharing/resources", data=_resource_form(token, conditions=" "))
    assert missing.status_code == 422
    assert 'id="f-resource-conditions-error"' in missing.text
    done = client.post("/sharing/resources", data=_resource_form(token), follow_redirects=False)
    assert done.status_code == 303
    row = db.scalar(select(SharingResource).where(SharingResource.code == "dibao_households"))
    assert row is not None
    assert [f["name"] for f in row.fields] == ["resident_id", "amount_fen"]  # the empty row is dropped
    assert row.fields[1]["type"] == "integer"
    assert (row.sharing_class, row.conditions) == ("conditional", "仅用于防返贫监测")
    edit = client.get(f"/sharing/resources/{row.id}/edit")
    assert 'value="amount_fen"' in edit.text
    again = client.post("/sharing/resources", data=_resource_form(token, editing=str(row.id), legal_basis=""))
    assert again.status_code == 422
    assert "修改资源" in again.text  # still the change of that resource, its code fixed
    assert f'name="editing" value="{row.id}"' in again.text
    changed = client.post("/sharing/resources", data=_resource_form(
        token, editing=str(row.id), sharing_class="unconditional", conditions=""), follow_redirects=False)
    assert changed.status_code == 303
    db.refresh(row)
    assert row.sharing_class == "unconditional"
    # another department may not change it; an outsider may not use the form at all
    _browser(client, db, settings, world.other)
    assert client.get(f"/sharing/resources/{row.id}/edit").status_code == 403
    assert client.get("/sharing/resources/new").status_code == 200
    _browser(client, db, settings, world.merchant)
    assert client.get("/sharing/resources/new").status_code == 403


def test_the_form_speaks_english_too(client, db, settings, world) -> None:  # type: ignore[no-untyped-def]
    token = _browser(client, db, settings, world.owner, "en")
    bad = client.post("/sharing/resources", data=_resource_form(token, **{"fields.0.type": "", "name_zh": ""}))
    assert bad.status_code == 422
    assert "Publish a data resource" in bad.text
    assert 'id="f-resource-fields-0-type-error"' in bad.text
    assert 'id="f-resource-name-zh-error"' in bad.text
    assert "Name (Chinese)" in bad.text


def test_the_owner_sets_the_sandbox_policy_on_the_resource_page(client, db, settings, world) -> None:  # type: ignore[no-untyped-def]
    token = _browser(client, db, settings, world.owner)
    page = client.get(f"/sharing/resources/{world.conditional}")
    assert "沙箱策略" in page.text
    assert 'name="bounds.monthly_amount_fen.low"' in page.text
    bad = client.post(f"/sharing/resources/{world.conditional}/sandbox-policy", data={
        "csrf_token": token, "k": "1", "aggregates": ["count"], "epsilon": "", "budget": "10"})
    assert bad.status_code == 422
    assert 'id="f-sandbox-k-error"' in bad.text
    half = client.post(f"/sharing/resources/{world.conditional}/sandbox-policy", data={
        "csrf_token": token, "k": "20", "aggregates": ["count"], "epsilon": "1", "budget": "5",
        "bounds.monthly_amount_fen.low": "0"})
    assert half.status_code == 422
    assert 'id="f-sandbox-bounds-error"' in half.text
    assert service.get_resource(db, service_actor(world.owner, db), world.conditional).sandbox_policy is None
    done = client.post(f"/sharing/resources/{world.conditional}/sandbox-policy", data={
        "csrf_token": token, "k": "20", "aggregates": ["count", "sum"], "epsilon": "0.5", "budget": "5",
        "bounds.monthly_amount_fen.low": "0", "bounds.monthly_amount_fen.high": "100000"},
        follow_redirects=False)
    assert done.status_code == 303
    shown = client.get(f"/sharing/resources/{world.conditional}")
    assert '<dd id="policy-k">20</dd>' in shown.text
    assert "求和" in shown.text
    # the allowed aggregates and the fields' types read as labels in English
    client.get(f"/lang/en?next=/sharing/resources/{world.conditional}")
    english = client.get(f"/sharing/resources/{world.conditional}").text
    assert '<dd id="policy-aggregates">Count (COUNT)' in english
    assert "Sum (SUM)</dd>" in english
    assert "<code>resident_id</code></td><td>String</td>" in english
    assert "<code>monthly_amount_fen</code></td><td>Integer</td>" in english
    client.get(f"/lang/zh?next=/sharing/resources/{world.conditional}")
    resource = db.get_one(SharingResource, world.conditional)
    db.refresh(resource)
    assert resource.sandbox_policy == {"k": 20, "aggregates": ["count", "sum"], "epsilon": 0.5, "budget": 5.0,
                                       "bounds": {"monthly_amount_fen": [0.0, 100000.0]}}
    _browser(client, db, settings, world.other)
    assert client.post(f"/sharing/resources/{world.conditional}/sandbox-policy", data={
        "csrf_token": token, "k": "3"}).status_code == 403


def service_actor(user: Any, db: Any) -> Any:
    from qianshu.accounts.service import actor_for

    return actor_for(user, via="portal", ip=None)


def test_the_owner_revokes_a_grant_on_its_page(client, db, make, settings, world) -> None:  # type: ignore[no-untyped-def]
    row = ask(db, make, world.other, settings, world.conditional)
    service.decide_request(db, make.actor(world.owner), row.id, schemas.DecisionIn(decision="approve"))
    db.flush()
    token = _browser(client, db, settings, world.owner, "en")
    page = client.get(f"/sharing/requests/{row.id}")
    assert "Revoke this grant" in page.text
    empty = client.post(f"/sharing/requests/{row.id}/revoke", data={"csrf_token": token, "reason": " "})
    assert empty.status_code == 422
    assert 'id="f-revoke-reason-error"' in empty.text
    assert db.get_one(SharingRequest, row.id).status == "approved"
    done = client.post(f"/sharing/requests/{row.id}/revoke", data={"csrf_token": token, "reason": "purpose ended"},
                       follow_redirects=False)
    assert done.status_code == 303
    again = client.post(f"/sharing/requests/{row.id}/revoke", data={"csrf_token": token, "reason": "twice"})
    assert again.status_code == 409
    assert "already revoked" in again.text
    token = _browser(client, db, settings, world.other)
    seen = client.get(f"/sharing/requests/{row.id}")
    assert "已撤销" in seen.text
    assert "purpose ended" in seen.text
    assert "撤销该授权" not in seen.text  # the requester has no revoke form
    assert client.post(f"/sharing/requests/{row.id}/revoke", data={"csrf_token": token, "reason": "x"}
                       ).status_code == 403
