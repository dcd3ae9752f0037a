"""Follows and notifications, saved searches, the demand pool."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from qianshu.catalog import demand, follows, service
from qianshu.catalog.schemas import DemandIn, DemandResponseIn, ListingUpdate, PlanIn
from qianshu.catalog.search import DemandQuery, search_demands
from qianshu.core.errors import Conflict, InvalidInput, PermissionDenied


def test_follow_then_change_notifies(db: Session, merchant, buyer, listed) -> None:  # type: ignore[no-untyped-def]
    listing = listed(merchant, title_en="Zunyi tea prices")
    follows.follow(db, buyer, listing.id)
    follows.follow(db, buyer, listing.id)  # idempotent
    db.refresh(listing)
    assert listing.follower_count == 1
    assert listing.popularity >= 10
    service.update_listing(
        db, merchant, listing.id, ListingUpdate(version=listing.version, description_en="Now weekly.")
    )
    service.add_plan(db, merchant, listing.id, PlanIn(kind="free", delivery_modes=["download"]))
    texts = [follows.render_notification(n, "en") for n in follows.notifications(db, buyer)]
    assert len(texts) == 2
    assert all("Zunyi tea prices" in t for t in texts)
    assert follows.unread_count(db, buyer) == 2
    assert follows.mark_read(db, buyer) == 2
    assert follows.unread_count(db, buyer) == 0
    follows.unfollow(db, buyer, listing.id)
    assert follows.followed_listings(db, buyer) == []


def test_saved_searches(db: Session, buyer) -> None:  # type: ignore[no-untyped-def]
    saved = follows.save_search(db, buyer, "交通", {"q": "交通", "region": "520100", "evil": "x"})
    assert saved.params == {"q": "交通", "region": "520100"}
    assert [s.id for s in follows.saved_searches(db, buyer)] == [saved.id]
    follows.delete_saved_search(db, buyer, saved.id)
    assert follows.saved_searches(db, buyer) == []


def test_demand_pool_flow(db: Session, merchant, buyer, make, listed) -> None:  # type: ignore[no-untyped-def]
    product = listed(merchant, title_zh="黔南物流运单数据")
    posted = demand.post_demand(
        db,
        buyer,
        DemandIn(
            title="需要贵阳市物流运单数据",
            description="用于干线物流路径优化",
            scenario="route optimisation",
            industry_code="G58",
            division_code="520100",
            budget_min="10000",
            budget_max="50000",
        ),
    )
    assert posted.budget_max_fen == 5_000_000
    rows, total = search_demands(db, DemandQuery(q="物流"))
    assert total == 1
    assert rows[0].id == posted.id
    assert search_demands(db, DemandQuery(q="logistics 气象"))[1] == 0
    assert posted in demand.matching_demands(db, merchant)
    with pytest.raises(PermissionDenied):
        demand.respond(db, buyer, posted.id, DemandResponseIn(planned_title="x"))
    first = demand.respond(db, merchant, posted.id, DemandResponseIn(listing_id=product.id, price="30000"))
    other = make.actor(make.user())
    second = demand.respond(db, other, posted.id, DemandResponseIn(planned_title="计划中的运单产品"))
    with pytest.raises(Conflict):
        demand.respond(db, merchant, posted.id, DemandResponseIn(planned_title="again"))
    assert demand.visible_responses(other, posted) == [second]
    assert len(demand.visible_responses(buyer, posted)) == 2
    demand.choose_response(db, buyer, posted.id, first.id)
    assert posted.status == "awarded"
    assert first.status == "chosen"
    assert second.status == "not_chosen"
    assert search_demands(db, DemandQuery(q="物流"))[1] == 0  # no longer open
    told = [follows.render_notification(n, "en") for n in follows.notifications(db, merchant)]
    assert any("was chosen" in t for t in told)


def test_demand_input_is_checked(db: Session, buyer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput):
        demand.post_demand(db, buyer, DemandIn(title="预算颠倒", budget_min="500", budget_max="100"))
    with pytest.raises(InvalidInput):
        demand.post_demand(db, buyer, DemandIn(title="错误地区", division_code="529999"))
