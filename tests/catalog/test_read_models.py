"""The listing editor's and the demand pages' read models follow the listing's or the demand's
status and the policy the way the services do, so a page offers no form the service would refuse
(tests/catalog/test_personal_data_download.py covers the personal-data confirmations)."""

from __future__ import annotations

from qianshu.accounts.models import User
from qianshu.catalog import demand, read_models, service
from qianshu.catalog.read_models import EditorActions
from qianshu.catalog.schemas import DemandIn, DemandResponseIn
from qianshu.core.actor import ANONYMOUS, Actor
from tests.accounts.test_portal import sign_in
from tests.catalog.conftest import make_listed


def test_the_editors_forms_follow_the_listings_status(db, merchant: Actor, operator: Actor) -> None:  # type: ignore[no-untyped-def]
    draft = make_listed(db, merchant, operator, status="draft")
    assert read_models.listing_editor(db, merchant, draft.id).may == EditorActions(
        submit=True, delist=True, edit=True, add_plan=True)
    pending = make_listed(db, merchant, operator, status="pending")
    assert read_models.listing_editor(db, merchant, pending.id).may == EditorActions(delist=True, add_plan=True)
    listed = make_listed(db, merchant, operator)
    assert read_models.listing_editor(db, merchant, listed.id).may == EditorActions(
        pause=True, delist=True, edit=True, add_plan=True)
    service.delist_listing(db, merchant, listed.id, "停止供应")
    assert read_models.listing_editor(db, merchant, listed.id).may == EditorActions()


def test_a_delisted_products_editor_says_it_cannot_be_edited(client, db, merchant: Actor,  # type: ignore[no-untyped-def]
                                                             operator: Actor) -> None:
    listed = make_listed(db, merchant, operator)
    service.delist_listing(db, merchant, listed.id, "停止供应")
    sign_in(client, db.get_one(User, merchant.user_id).email)
    page = client.get(f"/catalog/{listed.id}/edit").text
    assert 'id="not-editable"' in page
    assert "不能编辑" in page
    assert f'action="/catalog/{listed.id}/edit"' not in page
    assert f'action="/catalog/{listed.id}/plans"' not in page


def test_a_demands_forms_follow_its_state_and_the_viewer(db, make, merchant: Actor, buyer: Actor) -> None:  # type: ignore[no-untyped-def]
    posted = demand.post_demand(db, buyer, DemandIn(title="需要贵阳市物流运单数据"))
    assert read_models.demand_pool(db, buyer, "").may_post
    assert not read_models.demand_pool(db, make.actor(make.user(organisation=make.org(status="pending"))), "").may_post
    assert not read_models.demand_pool(db, ANONYMOUS, "").may_post

    def may(actor: Actor) -> tuple[bool, bool]:
        view = read_models.demand_view(db, actor, posted.id)
        return view.may_answer, view.may_choose

    assert may(buyer) == (False, True)  # its own: choose and close, not answer
    assert may(merchant) == (True, False)
    response = demand.respond(db, merchant, posted.id, DemandResponseIn(planned_title="计划中的运单产品"))
    assert may(merchant) == (False, False)  # answered once already
    other = make.actor(make.user())
    assert may(other) == (True, False)
    demand.choose_response(db, buyer, posted.id, response.id)
    assert may(buyer) == (False, False)  # awarded: nothing left to choose
    assert may(other) == (False, False)
