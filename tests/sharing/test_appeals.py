"""A second look at a decision: the requesting department appeals a narrowing or a rejection once,
the big-data bureau upholds it or grants the request as asked; a grantee asks for a longer grant
before it ends, the owner approves (a new end date) or refuses with a reason. Each through the
policy, audited, told to the other side and on the request's timeline; the portal's forms show
their errors beside the fields, in both languages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from qianshu.core.audit import AuditEvent
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from qianshu.core.inbox import Notification
from qianshu.sharing import appeals, grants, schemas, service
from qianshu.sharing.models import SharingAppeal, SharingExtension
from tests.factories import Factories
from tests.sharing.conftest import END, START, World, ask
from tests.sharing.test_pages import _browser


def _notes(db: Any, request_id: int, message: str) -> set[int | None]:
    return {n.org_id for n in db.scalars(select(Notification).where(
        Notification.subject_type == "sharing_request", Notification.subject_id == request_id,
        Notification.message == message))}


def _actions(db: Any, request_id: int) -> list[str]:
    return [e.action for e in db.scalars(select(AuditEvent).where(
        AuditEvent.target_type == "sharing_request", AuditEvent.target_id == str(request_id)).order_by(AuditEvent.id))]


def _narrowed(db: Any, make: Factories, settings: Any, world: World) -> Any:
    row = ask(db, make, world.other, settings, world.conditional)
    return service.decide_request(db, make.actor(world.owner), row.id, schemas.DecisionIn(
        decision="narrow", fields=["resident_id"], period_start=dt.date(2026, 7, 1)))


def test_the_requester_appeals_a_narrowing_once_and_the_bureau_grants_it(db, make, settings, world) -> None:  # type: ignore[no-untyped-def]
    row = _narrowed(db, make, settings, world)
    requester, bureau = make.actor(world.other), make.actor(world.bureau)
    appeal = appeals.file_appeal(db, requester, row, schemas.AppealIn(reason="监测需要全年数据"))
    assert (appeal.status, appeal.appealed_status) == ("pending", "narrowed")
    assert _notes(db, row.id, appeals.APPEALED) == {world.bureau.org_id, world.owner.org_id}
    with pytest.raises(Conflict) as again:
        appeals.file_appeal(db, requester, row, schemas.AppealIn(reason="再次申诉"))
    assert again.value.code == "already_appealed"
    assert "once" in again.value.render("en")
    assert "只能申诉一次" in again.value.render("zh")
    decided = appeals.decide_appeal(db, bureau, row, schemas.AppealDecisionIn(decision="grant"))
    assert decided.status == "granted"
    assert row.status == "approved"
    assert row.granted_fields == ["resident_id", "assistance"]
    assert (row.granted_start, row.granted_end, row.expires_on) == (START, END, END)
    assert grants.in_force(row, on=dt.date(2026, 6, 1))
    assert _notes(db, row.id, appeals.APPEAL_DECIDED) == {world.other.org_id, world.owner.org_id}
    assert _actions(db, row.id) == ["sharing.request.created", "sharing.request.narrowed", "sharing.appeal.filed",
                                    "sharing.appeal.granted"]
    steps = appeals.timeline(db, row)
    assert [s.action for s in steps][-2:] == ["sharing.appeal.filed", "sharing.appeal.granted"]
    assert steps[-2].detail["reason"] == "监测需要全年数据"
    with pytest.raises(Conflict) as twice:
        appeals.decide_appeal(db, bureau, row, schemas.AppealDecisionIn(decision="uphold", reason="晚了"))
    assert twice.value.code == "appeal_already_decided"
    assert "已处理" in twice.value.render("zh")


def test_the_bureau_upholds_a_rejection_only_with_a_reason(db, make, settings, world) -> None:  # type: ignore[no-untyped-def]
    row = ask(db, make, world.other, settings, world.conditional)
    service.decide_request(db, make.actor(world.owner), row.id, schemas.DecisionIn(decision="reject", reason="无依据"))
    appeals.file_appeal(db, make.actor(world.other), row, schemas.AppealIn(reason="有文件依据"))
    bureau = make.actor(world.bureau)
    with pytest.raises(InvalidInput) as bare:
        appeals.decide_appeal(db, bureau, row, schemas.AppealDecisionIn(decision="uphold"))
    assert (bare.value.field, bare.value.code) == ("reason", "reason_required")
    with pytest.raises(InvalidInput) as past:
        appeals.decide_appeal(db, bureau, row, schemas.AppealDecisionIn(decision="grant",
                                                                        expires_on=dt.date(2020, 1, 1)))
    assert past.value.field == "expires_on"
    appeal = appeals.decide_appeal(db, bureau, row, schemas.AppealDecisionIn(decision="uphold", reason="依据不足"))
    assert (appeal.status, appeal.decision_reason, row.status) == ("upheld", "依据不足", "rejected")
    assert not grants.in_force(row)


def test_who_may_appeal_and_decide_an_appeal(db, make, settings, world) -> None:  # type: ignore[no-untyped-def]
    pending = ask(db, make, world.other, settings, world.conditional)
    requester, owner, bureau = make.actor(world.other), make.actor(world.owner), make.actor(world.bureau)
    with pytest.raises(Conflict) as early:
        appeals.file_appeal(db, requester, pending, schemas.AppealIn(reason="r"))
    assert early.value.code == "not_appealable"
    assert "待审核" in early.value.render("zh")
    row = _narrowed(db, make, settings, world)
    with pytest.raises(PermissionDenied):
        appeals.file_appeal(db, owner, row, schemas.AppealIn(reason="r"))
    with pytest.raises(PermissionDenied):
        appeals.file_appeal(db, bureau, row, schemas.AppealIn(reason="r"))
    outsider = make.user(organisation=make.org(org_type="government"), org_role="admin")
    with pytest.raises(NotFound):  # a department outside the request: it does not exist
        service.load_request(db, make.actor(outsider), row.id, "sharing.appeal.create")
    with pytest.raises(PermissionDenied):  # not a department at all
        service.load_request(db, make.actor(world.merchant), row.id, "sharing.appeal.create")
    with pytest.raises(Conflict) as none:
        appeals.decide_appeal(db, bureau, row, schemas.AppealDecisionIn(decision="grant"))
    assert none.value.code == "no_appeal"
    appeals.file_appeal(db, requester, row, schemas.AppealIn(reason="r"))
    for someone in (owner, requester):
        with pytest.raises(PermissionDenied):
            appeals.decide_appeal(db, someone, row, schemas.AppealDecisionIn(decision="grant"))
    assert db.scalar(select(SharingAppeal.status).where(SharingAppeal.request_id == row.id)) == "pending"


def _grant(db: Any, make: Factories, settings: Any, world: World, ends: dt.date) -> Any:
    row = ask(db, make, world.other, settings, world.conditional)
    return service.decide_request(db, make.actor(world.owner), row.id,
                                  schemas.DecisionIn(decision="approve", expires_on=ends))


def test_a_grantee_asks_for_a_longer_grant_and_the_owner_approves_a_new_end(db, make, settings, world) -> None:  # type: ignore[no-untyped-def]
    ends = grants.today() + dt.timedelta(days=10)
    row = _grant(db, make, settings, world, ends)
    grantee, owner = make.actor(world.other), make.actor(world.owner)
    with pytest.raises(InvalidInput) as same:
        appeals.ask_extension(db, grantee, row, schemas.ExtensionIn(until=ends, reason="继续监测"))
    assert (same.value.field, same.value.code) == ("until", "not_later")
    with pytest.raises(PermissionDenied):
        appeals.ask_extension(db, owner, row, schemas.ExtensionIn(until=ends + dt.timedelta(days=90), reason="r"))
    asked = appeals.ask_extension(db, grantee, row, schemas.ExtensionIn(until=ends + dt.timedelta(days=90),
                                                                        reason="继续监测"))
    assert (asked.status, asked.ends_on) == ("pending", ends)
    assert _notes(db, row.id, appeals.EXTENSION_ASKED) == {world.owner.org_id}
    with pytest.raises(Conflict) as twice:
        appeals.ask_extension(db, grantee, row, schemas.ExtensionIn(until=ends + dt.timedelta(days=30), reason="r"))
    assert twice.value.code == "extension_pending"
    with pytest.raises(PermissionDenied):
        appeals.decide_extension(db, grantee, row, asked.id, schemas.ExtensionDecisionIn(decision="approve"))
    with pytest.raises(InvalidInput) as earlier:
        appeals.decide_extension(db, owner, row, asked.id, schemas.ExtensionDecisionIn(decision="approve",
                                                                                      expires_on=ends))
    assert earlier.value.field == "expires_on"
    new_end = ends + dt.timedelta(days=60)  # less than asked: the owner's to say
    decided = appeals.decide_extension(db, owner, row, asked.id,
                                       schemas.ExtensionDecisionIn(decision="approve", expires_on=new_end))
    assert (decided.status, decided.granted_until, row.expires_on) == ("approved", new_end, new_end)
    assert _notes(db, row.id, appeals.EXTENSION_DECIDED) == {world.other.org_id}
    assert _actions(db, row.id)[-2:] == ["sharing.extension.asked", "sharing.extension.approved"]
    with pytest.raises(Conflict) as again:
        appeals.decide_extension(db, owner, row, asked.id, schemas.ExtensionDecisionIn(decision="refuse", reason="r"))
    assert again.value.code == "extension_already_decided"
    assert "already approved" in again.value.render("en")
    with pytest.raises(NotFound):
        appeals.decide_extension(db, owner, row, asked.id + 999, schemas.ExtensionDecisionIn(decision="approve"))


def test_the_owner_refuses_with_a_reason_and_an_ended_grant_cannot_be_extended(db, make, settings, world) -> None:  # type: ignore[no-untyped-def]
    ends = grants.today() + dt.timedelta(days=3)
    row = _grant(db, make, settings, world, ends)
    grantee, owner = make.actor(world.other), make.actor(world.owner)
    asked = appeals.ask_extension(db, grantee, row, schemas.ExtensionIn(until=ends + dt.timedelta(days=9),
                                                                        reason="r"))
    with pytest.raises(InvalidInput) as bare:
        appeals.decide_extension(db, owner, row, asked.id, schemas.ExtensionDecisionIn(decision="refuse"))
    assert bare.value.code == "reason_required"
    refused = appeals.decide_extension(db, owner, row, asked.id,
                                       schemas.ExtensionDecisionIn(decision="refuse", reason="期限已足够"))
    assert (refused.status, refused.decision_reason, row.expires_on) == ("refused", "期限已足够", ends)
    grants.revoke(db, owner, row, "停止共享")
    with pytest.raises(Conflict) as ended:
        appeals.ask_extension(db, grantee, row, schemas.ExtensionIn(until=ends + dt.timedelta(days=9), reason="r"))
    assert ended.value.code == "grant_not_active"
    assert "已撤销" in ended.value.render("zh")


def test_a_grant_waiting_for_a_longer_use_is_not_closed_until_the_owner_decides(db, make, settings, world) -> None:  # type: ignore[no-untyped-def]
    ends = grants.today()
    row = _grant(db, make, settings, world, ends)
    asked = appeals.ask_extension(db, make.actor(world.other), row,
                                  schemas.ExtensionIn(until=ends + dt.timedelta(days=30), reason="r"))
    assert grants.expire_grants(db, on=ends + dt.timedelta(days=1)) == 0
    assert not grants.in_force(row, on=ends + dt.timedelta(days=1))  # unused meanwhile
    appeals.decide_extension(db, make.actor(world.owner), row, asked.id,
                             schemas.ExtensionDecisionIn(decision="approve"))
    assert row.expires_on == ends + dt.timedelta(days=30)
    assert grants.in_force(row, on=ends + dt.timedelta(days=1))
    assert db.get_one(SharingExtension, asked.id).granted_until == ends + dt.timedelta(days=30)


def test_the_portal_forms_show_errors_beside_their_fields(client, db, make, settings, world) -> None:  # type: ignore[no-untyped-def]
    row = _narrowed(db, make, settings, world)
    db.flush()
    token = _browser(client, db, settings, world.other)
    page = client.get(f"/sharing/requests/{row.id}")
    assert "对该答复提出申诉" in page.text
    empty = client.post(f"/sharing/requests/{row.id}/appeal", data={"csrf_token": token, "reason": " "})
    assert empty.status_code == 422
    assert 'id="f-appeal-reason" aria-invalid="true"' in empty.text
    assert db.scalar(select(SharingAppeal.id).where(SharingAppeal.request_id == row.id)) is None
    done = client.post(f"/sharing/requests/{row.id}/appeal", data={"csrf_token": token, "reason": "需要全年数据"},
                       follow_redirects=False)
    assert done.status_code == 303
    assert "需要全年数据" in client.get(f"/sharing/requests/{row.id}").text
    token = _browser(client, db, settings, world.bureau, "en")
    page = client.get(f"/sharing/requests/{row.id}")
    assert "Decide the appeal" in page.text
    bare = client.post(f"/sharing/requests/{row.id}/appeal/decision",
                       data={"csrf_token": token, "decision": "uphold"})
    assert bare.status_code == 422
    assert 'id="f-appeal_decision-reason" aria-invalid="true"' in bare.text
    decided = client.post(f"/sharing/requests/{row.id}/appeal/decision",
                          data={"csrf_token": token, "decision": "grant"}, follow_redirects=False)
    assert decided.status_code == 303
    shown = client.get(f"/sharing/requests/{row.id}").text
    assert "Granted as appealed" in shown
    assert "Sharing appeal filed" in shown  # the timeline
    # the grantee now asks for a longer grant: a day not after the end is refused beside the field
    token = _browser(client, db, settings, world.other)
    same = client.post(f"/sharing/requests/{row.id}/extensions",
                       data={"csrf_token": token, "until": END.isoformat(), "reason": "继续监测"})
    assert same.status_code == 422
    assert 'id="f-extension-until" aria-invalid="true"' in same.text
    assert "晚于授权截止日期" in same.text
    asked = client.post(f"/sharing/requests/{row.id}/extensions", follow_redirects=False,
                        data={"csrf_token": token, "until": "2027-03-31", "reason": "继续监测"})
    assert asked.status_code == 303
    token = _browser(client, db, settings, world.owner)
    extension_id = db.scalar(select(SharingExtension.id).where(SharingExtension.request_id == row.id))
    refuse = client.post(f"/sharing/requests/{row.id}/extensions/{extension_id}/decision",
                         data={"csrf_token": token, "decision": "refuse", "expires_on": ""})
    assert refuse.status_code == 422
    assert 'id="f-extension_decision-reason" aria-invalid="true"' in refuse.text
    approve = client.post(f"/sharing/requests/{row.id}/extensions/{extension_id}/decision", follow_redirects=False,
                          data={"csrf_token": token, "decision": "approve", "expires_on": "2027-03-31"})
    assert approve.status_code == 303
    assert "2027-03-31" in client.get(f"/sharing/requests/{row.id}").text
