"""Listing workflow: create from an issued registration, plans, review, pause, delist, history,
revocation, optimistic locking."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.catalog import follows, service
from qianshu.catalog.models import Listing
from qianshu.catalog.schemas import ListingIn, ListingUpdate, PlanIn
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from qianshu.core.events import publish
from qianshu.core.inbox import Notification


def test_full_workflow_keeps_history(db: Session, merchant, operator, registration) -> None:  # type: ignore[no-untyped-def]
    reg = registration(merchant, title_zh="六盘水煤矿安全监测", title_en="Liupanshui mine safety")
    listing = service.create_listing(db, merchant, ListingIn(registration_id=reg.id, tags=["煤矿", " safety "]))
    assert listing.status == "draft"
    assert listing.title_zh == "六盘水煤矿安全监测"
    assert listing.tags == ["煤矿", "safety"]
    with pytest.raises(Conflict):
        service.submit_listing(db, merchant, listing.id)  # no plan yet
    service.add_plan(
        db, merchant, listing.id, PlanIn(kind="yearly", price="50000.00", delivery_modes=["delta_sharing", "api"])
    )
    service.add_plan(db, merchant, listing.id, PlanIn(kind="quote", delivery_modes=["sandbox"]))
    assert listing.min_price_fen == 5_000_000
    assert set(listing.delivery_modes) == {"delta_sharing", "api", "sandbox"}
    service.submit_listing(db, merchant, listing.id)
    assert service.review_queue(db, operator) == [listing]
    with pytest.raises(InvalidInput):
        service.review_listing(db, operator, listing.id, "reject", "")
    service.review_listing(db, operator, listing.id, "reject", "标题不清楚")
    assert listing.status == "rejected"
    service.update_listing(
        db, merchant, listing.id, ListingUpdate(version=listing.version, title_zh="六盘水煤矿安全监测数据")
    )
    service.submit_listing(db, merchant, listing.id)
    service.review_listing(db, operator, listing.id, "approve")
    assert listing.status == "listed"
    assert listing.listed_at is not None
    service.pause_listing(db, merchant, listing.id, "maintenance")
    service.resume_listing(db, merchant, listing.id)
    service.delist_listing(db, merchant, listing.id, "retired")
    actions = [h.action for h in service.history(db, merchant, listing.id)][::-1]
    assert actions == [
        "created",
        "plan_added",
        "plan_added",
        "submitted",
        "rejected",
        "updated",
        "submitted",
        "approved",
        "paused",
        "resumed",
        "delisted",
    ]
    changed = next(h for h in service.history(db, merchant, listing.id) if h.action == "updated")
    assert changed.changes == {"title_zh": ["六盘水煤矿安全监测", "六盘水煤矿安全监测数据"]}


def test_only_the_holder_lists_and_only_issued_registrations(
    db: Session, merchant, make, registration, operator
) -> None:  # type: ignore[no-untyped-def]
    other = make.actor(make.user())
    reg = registration(merchant)
    with pytest.raises(NotFound):
        service.create_listing(db, other, ListingIn(registration_id=reg.id))
    draft = registration(merchant, status="under_review", number=None)
    with pytest.raises(Conflict):
        service.create_listing(db, merchant, ListingIn(registration_id=draft.id))
    listing = service.create_listing(db, merchant, ListingIn(registration_id=reg.id))
    with pytest.raises(PermissionDenied):
        service.update_listing(db, other, listing.id, ListingUpdate(version=listing.version, title_zh="x"))
    with pytest.raises(PermissionDenied):
        service.review_queue(db, merchant)
    with pytest.raises(NotFound):  # drafts are not public
        service.get_public_listing(db, listing.id)


def test_paid_plan_needs_a_price_and_per_call_needs_api(db: Session, merchant, registration) -> None:  # type: ignore[no-untyped-def]
    listing = service.create_listing(db, merchant, ListingIn(registration_id=registration(merchant).id))
    with pytest.raises(InvalidInput):
        service.add_plan(db, merchant, listing.id, PlanIn(kind="monthly", price="", delivery_modes=["download"]))
    with pytest.raises(InvalidInput):
        service.add_plan(db, merchant, listing.id, PlanIn(kind="per_call", price="0.05", delivery_modes=["download"]))
    with pytest.raises(InvalidInput):
        service.add_plan(db, merchant, listing.id, PlanIn(kind="one_time", price="1.001", delivery_modes=["download"]))
    plan = service.add_plan(db, merchant, listing.id, PlanIn(kind="per_call", price="0.05", delivery_modes=["api"]))
    assert plan.price_fen == 5
    assert plan.policy["@type"] == "Offer"


def test_stale_version_is_a_conflict(db: Session, merchant, listed) -> None:  # type: ignore[no-untyped-def]
    listing = listed(merchant)
    seen = listing.version
    service.update_listing(db, merchant, listing.id, ListingUpdate(version=seen, title_en="First editor"))
    with pytest.raises(Conflict) as info:
        service.update_listing(db, merchant, listing.id, ListingUpdate(version=seen, title_en="Second editor"))
    assert "reload" in info.value.render("en")
    assert "重新" in info.value.render("zh")
    assert listing.title_en == "First editor"


def test_revocation_delists_at_once_and_tells_followers(db: Session, merchant, buyer, listed) -> None:  # type: ignore[no-untyped-def]
    listing = listed(merchant, title_zh="毕节气象数据")
    follows.follow(db, buyer, listing.id)
    publish(db, "registration.revoked", registration_id=listing.registration_id, reason="court order")
    assert listing.status == "delisted"
    with pytest.raises(NotFound):
        service.get_public_listing(db, listing.id)
    notes = db.scalars(select(Notification).where(Notification.user_id == buyer.user_id)).all()
    assert len(notes) == 1
    assert "毕节气象数据" in follows.render_notification(notes[0], "zh")


def test_concurrent_edits_lose_nothing(isolated_database, make) -> None:  # type: ignore[no-untyped-def]
    """Two editors load version N at the same time; exactly one save wins, the other gets a 409."""
    from tests.factories import Factories

    with isolated_database.unit_of_work() as db:
        f = Factories(db)
        user = f.user()
        actor = f.actor(user)
        from qianshu.registry.models import Registration

        reg = Registration(
            holder_org_id=actor.org_id, status="issued", title_zh="并发", industry_code="G54", division_code="520102"
        )
        db.add(reg)
        db.flush()
        listing = service.create_listing(db, actor, ListingIn(registration_id=reg.id))
        listing_id, version = listing.id, listing.version
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def edit(title: str) -> None:
        barrier.wait()
        try:
            with isolated_database.unit_of_work() as db:
                service.update_listing(db, actor, listing_id, ListingUpdate(version=version, title_en=title))
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=edit, args=(t,)) for t in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    with isolated_database.unit_of_work(write=False) as db:
        final = db.get_one(Listing, listing_id)
        assert final.version == version + 1
        assert final.title_en in ("A", "B")
