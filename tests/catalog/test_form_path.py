"""The catalogue's forms and pages as a person meets them: a plan with several mistakes shows them
all at once and adds nothing; the product page offers only what the reader may do."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from qianshu.accounts.models import Organisation, User
from qianshu.catalog.models import PricingPlan
from qianshu.core.i18n import LANG_COOKIE
from tests.accounts.test_form_errors import beside, visible_text
from tests.accounts.test_portal import csrf, sign_in


@pytest.mark.parametrize(("lang", "expected"), [
    ("zh", {"delivery_modes": "交付方式", "policy.purposes": "允许用途", "policy.term_days": "期限"}),
    ("en", {"delivery_modes": "Delivery", "policy.purposes": "Permitted purposes",
            "policy.term_days": "Term (days, empty for no limit)"}),
])
def test_a_plan_with_three_mistakes_shows_all_three(client, db, make, listed, merchant, lang, expected) -> None:
    listing = listed(merchant, status="draft")
    user = db.get_one(User, merchant.user_id)
    sign_in(client, user.email)
    client.cookies.set(LANG_COOKIE, lang)
    token = csrf(client, f"/catalog/{listing.id}/edit")
    before = db.scalar(select(func.count()).select_from(PricingPlan).where(PricingPlan.listing_id == listing.id))
    # no delivery mode, an unknown purpose, a term that is not a number
    r = client.post(f"/catalog/{listing.id}/plans", data={
        "name_zh": "按年订阅", "kind": "one_time", "price": "800", "purposes": ["world_domination"],
        "term_days": "一年", "territory": "CN", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 422
    for field, label in expected.items():
        assert label in beside(r.text, field, "plan"), field
    summary = visible_text(r.text.split('id="form-errors"', 1)[1].split("</div>", 1)[0])
    assert {"zh": "请更正以下 3 处问题", "en": "Please correct 3 problems"}[lang] in summary
    assert 'value="按年订阅"' in r.text
    assert 'value="一年"' in r.text
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(PricingPlan)
                     .where(PricingPlan.listing_id == listing.id)) == before


def test_the_product_page_offers_only_what_the_reader_may_do(client, db, make, listed, merchant) -> None:
    listing = listed(merchant)
    client.cookies.set(LANG_COOKIE, "en")
    anonymous = visible_text(client.get(f"/catalog/{listing.id}").text)
    assert "Edit product" not in anonymous
    assert "Follow" not in anonymous

    buyer = make.user(organisation=make.org(org_type="buyer"))
    sign_in(client, buyer.email)
    page = visible_text(client.get(f"/catalog/{listing.id}").text)
    assert "Follow" in page
    assert "Edit product" not in page
    client.post("/sign-out", data={"csrf_token": csrf(client, "/")})

    seller = db.get_one(User, merchant.user_id)
    sign_in(client, seller.email)
    assert "Edit product" in visible_text(client.get(f"/catalog/{listing.id}").text)
    # the seller's organisation suspended: the editor would refuse it, so the page no longer offers it
    db.get_one(Organisation, merchant.org_id).status = "suspended"
    db.commit()
    assert "Edit product" not in visible_text(client.get(f"/catalog/{listing.id}").text)
