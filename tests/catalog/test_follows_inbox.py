"""The catalogue tells followers through the core inbox, which the API shows."""

from __future__ import annotations

from sqlalchemy.orm import Session

from qianshu.catalog import follows, service
from qianshu.catalog.schemas import ListingUpdate
from tests.factories import Factories


def test_a_followed_product_that_changes_reaches_the_followers_inbox(
        client, db: Session, make: Factories, listed, bearer) -> None:  # type: ignore[no-untyped-def]
    merchant = make.actor(make.user())
    buyer = make.user(organisation=make.org(org_type="buyer"))
    listing = listed(merchant, title_en="Zunyi tea prices")
    follows.follow(db, make.actor(buyer), listing.id)
    service.update_listing(db, merchant, listing.id, ListingUpdate(version=listing.version, description_en="Weekly."))
    [note] = client.get("/api/v1/inbox", headers={**bearer(buyer), "Accept-Language": "en"}).json()
    assert note["text"] == "The product “Zunyi tea prices” you follow was updated."
    assert (note["capability"], note["link"]) == ("catalog", f"/catalog/{listing.id}")


def test_the_follows_page_links_to_the_inbox(client, make: Factories) -> None:  # type: ignore[no-untyped-def]
    from tests.registry.helpers import sign_in

    user = make.user()
    make.db.commit()
    sign_in(client, user)
    client.cookies.set("qs_lang", "en")
    page = client.get("/catalog/follows")
    assert '<a href="/inbox">All my notifications</a>' in page.text
