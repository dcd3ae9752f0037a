"""The mechanism, step by step and level by level; eliminations; re-entry; repeat runs; overdue steps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from qianshu.core.audit import AuditEvent
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from qianshu.core.inbox import Notification
from qianshu.core.timeutil import SHANGHAI, utcnow
from qianshu.monitoring import case_opening, case_views, cases
from qianshu.monitoring.models import Case, CaseEvent
from tests.monitoring.conftest import AUTH, FAR_VILLAGE, VILLAGE, World, flag


def _notice_ago(days: int) -> str:
    return (utcnow().astimezone(SHANGHAI).date() - timedelta(days=days)).isoformat()


def recent_months(count: int, fen: int, *, skip: int | None = None) -> list[dict[str, object]]:
    """``count`` months of income ending last month, oldest first (``skip``: leave out the n-th, 1-based)."""
    month = utcnow().astimezone(SHANGHAI).date().replace(day=1)
    out: list[dict[str, object]] = []
    for _ in range(count + (skip is not None)):
        month = (month - timedelta(days=1)).replace(day=1)
        out.insert(0, {"month": month.strftime("%Y-%m"), "per_capita_fen": fen})
    if skip is not None:
        del out[skip - 1]
    return out


def go(db, actor, case, step, data=None, files=()):  # type: ignore[no-untyped-def]
    return cases.advance(db, actor, case.id, step, case.version, data or {}, list(files))


def to_monitored(db, w: World, case: Case) -> Case:  # type: ignore[no-untyped-def]
    case = go(db, w.village, case, "visit", {"findings": "属实", "able_to_work": 1}, AUTH)
    case = go(db, w.village, case, "cross_check", {"departments": "民政", "findings": "一致"})
    case = go(db, w.village, case, "village_review", {"decision": "approve", "notice_starts_on": _notice_ago(6)})
    case = go(db, w.township, case, "township_review", {"decision": "approve"})
    return go(db, w.county, case, "county_approve", {"decision": "approve", "household_type": "marginal",
                                                     "risk_types": ["income_below_threshold"]})


def test_a_household_goes_through_the_mechanism_and_its_risk_is_eliminated(db, world: World) -> None:
    case = to_monitored(db, world, world.case(db))
    assert (case.stage, case.household_type) == ("monitored", "marginal")
    case = go(db, world.county, case, "measure", {"kind": "small_loan", "department": "县农商行",
                                                  "amount_fen": 5_000_000})
    with pytest.raises(Conflict) as exc:
        go(db, world.village, case, "propose_elimination")
    assert exc.value.code == "income_not_stable"
    months = recent_months(6, 70_000)
    case = go(db, world.village, case, "revisit", {"findings": "稳定", "income_months": months,
                                                   "guarantees_secured": "1"})
    case = go(db, world.village, case, "propose_elimination")
    case = go(db, world.village, case, "elimination_visit", {"findings": "属实"})
    case = go(db, world.village, case, "elimination_notice", {"notice_starts_on": _notice_ago(5)})
    case = go(db, world.township, case, "elimination_review", {"decision": "approve"})
    case = go(db, world.county, case, "elimination_approve", {"decision": "approve"})
    assert (case.status, case.outcome, case.open_household) == ("closed", "eliminated", None)
    steps = [e.step for e in cases.events_of(db, case.id)]
    assert steps[0] == "opened"
    assert steps[-1] == "elimination_approve"
    # re-entry: a new case, the old one stays
    again = world.case(db, case.household_id)
    assert again.id != case.id
    assert db.get(Case, case.id) is not None


def test_income_below_the_threshold_or_a_gap_blocks_the_elimination(db, world: World) -> None:
    case = to_monitored(db, world, world.case(db))
    months = recent_months(6, 70_000, skip=4)  # the fourth month missing
    case = go(db, world.village, case, "revisit", {"findings": "x", "income_months": months, "guarantees_secured": "1"})
    assert [b.code for b in cases.elimination_blockers(db, case)] == ["income_not_stable"]
    months = recent_months(6, 60_000)  # below 780,000 / 12
    case = go(db, world.village, case, "revisit", {"findings": "x", "income_months": months})
    assert {b.code for b in cases.elimination_blockers(db, case)} == {"income_not_stable", "guarantees_not_secured"}


def test_a_household_with_no_one_able_to_work_is_never_eliminated(db, world: World) -> None:
    case = to_monitored(db, world, world.case(db))
    months = recent_months(6, 90_000)
    case = go(db, world.village, case, "revisit", {"findings": "x", "income_months": months,
                                                   "guarantees_secured": "1", "able_to_work": 0})
    with pytest.raises(Conflict) as exc:
        go(db, world.village, case, "propose_elimination")
    assert exc.value.code == "no_one_able_to_work"
    assert "无劳动能力" in exc.value.render("zh")
    assert "able to work" in exc.value.render("en")


def test_elimination_needs_recent_income_and_the_members_ability_to_work_recorded(db, world: World) -> None:
    case = world.case(db)
    case = go(db, world.village, case, "visit", {"findings": "属实"}, AUTH)  # ability to work not recorded
    case = go(db, world.village, case, "cross_check", {"departments": "民政", "findings": "一致"})
    case = go(db, world.village, case, "village_review", {"decision": "approve", "notice_starts_on": _notice_ago(6)})
    case = go(db, world.township, case, "township_review", {"decision": "approve"})
    case = go(db, world.county, case, "county_approve", {"decision": "approve", "household_type": "marginal",
                                                         "risk_types": ["income_below_threshold"]})
    stale = recent_months(9, 90_000)[:6]  # six good months that ended three months ago
    case = go(db, world.village, case, "revisit", {"findings": "x", "income_months": stale, "guarantees_secured": "1"})
    blockers = cases.elimination_blockers(db, case)
    assert [b.code for b in blockers] == ["work_ability_unknown", "income_not_recent"]
    assert "劳动能力" in blockers[0].render("zh")
    assert stale[-1]["month"] in blockers[1].render("zh")
    with pytest.raises(Conflict):
        go(db, world.village, case, "propose_elimination")
    case = go(db, world.village, case, "revisit", {"findings": "x", "income_months": recent_months(6, 90_000),
                                                   "guarantees_secured": "1", "able_to_work": 1})
    assert cases.elimination_blockers(db, case) == []
    coming = utcnow().astimezone(SHANGHAI).date().replace(day=28) + timedelta(days=5)
    with pytest.raises(InvalidInput) as exc:
        go(db, world.village, case, "revisit", {"findings": "x", "income_months": [
            {"month": coming.strftime("%Y-%m"), "per_capita_fen": 90_000}]})
    assert "尚未到来" in exc.value.render("zh")


def test_each_step_is_done_by_its_level(db, world: World) -> None:
    case = world.case(db)
    case = go(db, world.village, case, "visit", {"findings": "属实"}, AUTH)
    case = go(db, world.village, case, "cross_check", {"departments": "民政", "findings": "一致"})
    for actor in (world.county, world.township, world.province):
        with pytest.raises((PermissionDenied, NotFound)):
            go(db, actor, case, "village_review", {"decision": "approve"})
    case = go(db, world.village, case, "village_review", {"decision": "approve"})
    with pytest.raises(Conflict) as exc:  # the notice runs five days
        go(db, world.township, case, "township_review", {"decision": "approve"})
    assert exc.value.code == "notice_running"
    with pytest.raises(PermissionDenied):
        go(db, world.village, case, "township_review", {"decision": "approve"})


def test_a_rejection_needs_a_reason_closes_the_case_and_keeps_it(db, world: World) -> None:
    case = world.case(db)
    case = go(db, world.village, case, "visit", {"findings": "属实"}, AUTH)
    case = go(db, world.village, case, "cross_check", {"departments": "民政", "findings": "一致"})
    with pytest.raises(InvalidInput) as exc:
        go(db, world.village, case, "village_review", {"decision": "reject"})
    assert exc.value.field == "reason"
    case = go(db, world.village, case, "village_review", {"decision": "reject", "reason": "收入高于标准"})
    assert (case.status, case.outcome) == ("closed", "rejected")
    assert cases.events_of(db, case.id)[-1].details["reason"] == "收入高于标准"


def test_a_visit_needs_the_signed_authorisation(db, world: World) -> None:
    case = world.case(db)
    with pytest.raises(InvalidInput) as exc:
        go(db, world.village, case, "visit", {"findings": "属实"})
    assert exc.value.field == "authorisation"


def test_a_repeat_run_does_not_duplicate_open_cases(db, world: World) -> None:
    flags = [flag("H1", VILLAGE), flag("H2", VILLAGE, 2)]
    assert case_opening.open_cases_from_flags(db, flags, "run-1") == (2, 0)
    assert case_opening.open_cases_from_flags(db, flags, "run-2") == (0, 2)
    assert db.scalar(select(func.count()).select_from(Case)) == 2


def test_a_runs_warnings_open_in_bulk_once_each_with_their_events_and_inbox_notes(
        db, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(case_opening, "OPEN_CHUNK", 3)  # several bulk statements for a few households
    self_reported = case_opening.open_case(db, world.village, channel="cadre_visit", household_id="H4",
                                    division_code=VILLAGE, head_name="李四", head_resident_id=flag("H4", VILLAGE, 4)[
                                        "head_resident_id"], members=2, note="")
    flags = [flag(f"H{n}", VILLAGE if n % 2 else FAR_VILLAGE, n) for n in range(1, 9)]
    flags.append(flag("H3", VILLAGE, 3))  # listed twice: one case
    assert case_opening.open_cases_from_flags(db, flags, "run-7", income_threshold_fen=850_000) == (7, 2)
    opened = list(db.scalars(select(Case).where(Case.channel == "warning").order_by(Case.household_id)))
    assert [c.household_id for c in opened] == ["H1", "H2", "H3", "H5", "H6", "H7", "H8"]
    first = opened[0]
    assert (first.stage, first.status, first.version, first.run_ref, first.income_threshold_fen) == (
        "clue", "open", 1, "run-7", 850_000)
    assert (first.head_name, first.members, first.reasons) == ("王大山", 3, ["income_below_threshold"])
    assert first.traces[0]["source_key"] == "H1"
    assert first.stage_due_at is not None
    events = db.scalars(select(CaseEvent).where(CaseEvent.case_id.in_([c.id for c in opened]))).all()
    assert sorted(e.case_id for e in events) == sorted(c.id for c in opened)
    assert {(e.step, e.stage_after, e.details["run_ref"]) for e in events} == {("opened", "clue", "run-7")}
    # The village's caseworker is told of the village's cases (odd households), not of the far village's.
    notes = db.scalars(select(Notification).where(Notification.user_id == world.users["village"].id,
                                                  Notification.subject_id != self_reported.id)).all()
    assert sorted(n.subject_id for n in notes) == sorted(c.id for c in opened if c.division_code == VILLAGE)
    # A bad village code anywhere: nothing of the call is written.
    with pytest.raises(InvalidInput):
        case_opening.open_cases_from_flags(db, [flag("H20", VILLAGE), flag("H21", "52263600")], "run-8")
    assert db.scalar(select(func.count()).select_from(Case).where(Case.household_id == "H20")) == 0
    assert case_opening.open_cases_from_flags(db, flags, "run-9") == (0, 9)


def test_a_stale_version_is_refused(db, world: World) -> None:
    case = world.case(db)
    seen = case.version
    cases.advance(db, world.village, case.id, "visit", seen, {"findings": "属实"}, AUTH)
    with pytest.raises(Conflict) as exc:
        cases.advance(db, world.village, case.id, "cross_check", seen, {"departments": "x", "findings": "y"})
    assert exc.value.code == "stale_case"
    assert "刷新" in exc.value.render("zh")
    assert "Reload" in exc.value.render("en")


def test_jurisdiction_masking_and_audit(db, world: World) -> None:
    mine, far = world.case(db, "H1"), world.case(db, "H9", FAR_VILLAGE)
    assert [c.id for c in cases.list_cases(db, world.county)] == [mine.id]
    assert [c.id for c in cases.list_cases(db, world.other_village)] == []
    assert {c.id for c in cases.list_cases(db, world.province)} == {mine.id, far.id}
    with pytest.raises(NotFound):
        cases.get_case(db, world.county, far.id)
    with pytest.raises(NotFound):
        cases.get_case(db, world.other_village, mine.id)
    shown = case_views.case_json(world.province, mine)
    assert shown["head_name"] == "王**"
    assert "********" in shown["head_resident_id"]
    assert case_views.case_json(world.village, mine)["head_name"] == "王大山"
    with pytest.raises(PermissionDenied):
        cases.list_cases(db, world.merchant)
    cases.get_case(db, world.county, mine.id)
    viewed = db.scalars(select(AuditEvent).where(AuditEvent.action == "monitoring.case.viewed")).all()
    assert [(v.target_id, v.actor_user_id) for v in viewed] == [(str(mine.id), world.county.user_id)]


def test_overdue_steps_are_told_once(db, world: World) -> None:
    case = world.case(db)
    later = utcnow() + timedelta(days=8)
    assert cases.tell_overdue(db, later) == 1
    assert cases.tell_overdue(db, later) == 0
    notes = db.scalars(select(Notification).where(Notification.message.like("%overdue%"))).all()
    assert {n.user_id for n in notes} == {world.village.user_id, world.county.user_id}
    assert db.scalars(select(CaseEvent.step).where(CaseEvent.case_id == case.id)).all()[-1] == "overdue"


def test_a_self_report_is_anyones_and_a_cadre_visit_a_caseworkers(db, world: World) -> None:
    from qianshu.core.actor import ANONYMOUS
    from tests.monitoring.conftest import resident_id

    case = case_opening.open_case(db, ANONYMOUS, channel="self_report", household_id="", division_code=VILLAGE,
                           head_name="潘秀英", head_resident_id=resident_id("522636", 7), members=2, note="重病")
    assert (case.channel, case.stage) == ("self_report", "clue")
    with pytest.raises(Conflict):
        case_opening.open_case(db, ANONYMOUS, channel="self_report", household_id="", division_code=VILLAGE,
                        head_name="潘秀英", head_resident_id=resident_id("522636", 7), members=2, note="again")
    with pytest.raises(PermissionDenied):
        case_opening.open_case(db, world.province, channel="cadre_visit", household_id="X", division_code=VILLAGE,
                        head_name="李", head_resident_id=resident_id("522636", 8), members=2, note="")
    case = case_opening.open_case(db, world.township, channel="linked", household_id="X", division_code=VILLAGE,
                           head_name="李", head_resident_id=resident_id("522636", 8), members=2, note="")
    assert case.channel == "linked"


def test_the_registrys_orphan_sweep_keeps_a_visits_files(db, world: World, settings) -> None:  # type: ignore[no-untyped-def]
    import os
    import time

    from qianshu.core.blobs import open_blob_store
    from qianshu.registry import service as registry

    store = open_blob_store(settings)
    kept, _ = store.put_stream([b"%PDF signed authorisation"])
    orphan, _ = store.put_stream([b"nobody's"])
    for digest in (kept, orphan):
        os.utime(store.path(digest), (time.time() - 7200, time.time() - 7200))
    case = world.case(db)
    go(db, world.village, case, "visit", {"findings": "x"}, [{"digest": kept, "kind": "authorisation", "name": "a"}])
    db.flush()
    assert cases.blob_in_use(db, kept)
    assert registry.sweep_orphan_blobs(db, store, [kept, orphan], stored_before=time.time() - 3600) == 1
    assert store.exists(kept)
    assert not store.exists(orphan)
