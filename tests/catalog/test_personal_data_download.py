"""Offering sensitive personal data (resident IDs ...) for download needs the seller's explicit confirmation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from qianshu.catalog.models import Listing, ListingChange
from qianshu.registry.models import PiiFinding

PLAN = {"kind": "one_time", "price": "800", "delivery_modes": ["download"],
        "policy": {"purposes": ["research"], "territory": "CN"}}


def _with_resident_ids(db: Any, registration: Any, actor: Any, **kwargs: Any) -> Any:
    reg = registration(actor, personal_info="sensitive", **kwargs)
    db.add(PiiFinding(registration_id=reg.id, column_name="身份证号", kind="resident_id", sensitive=True,
                      share=1.0, scanned=300, matched=300, masked_example="5201**********1234"))
    db.add(PiiFinding(registration_id=reg.id, column_name="手机号", kind="mobile", sensitive=False,
                      share=1.0, scanned=300, matched=300, masked_example="138****5678"))
    db.flush()
    return reg


def test_api_submission_needs_confirmation_naming_the_kinds(client, db, make, bearer, registration) -> None:  # type: ignore[no-untyped-def]
    user = make.user()
    headers = bearer(user)
    reg = _with_resident_ids(db, registration, make.actor(user))
    listing = client.post("/api/v1/catalog/listings", json={"registration_id": reg.id}, headers=headers).json()
    assert client.post(f"/api/v1/catalog/listings/{listing['id']}/plans", json=PLAN, headers=headers).status_code == 201
    url = f"/api/v1/catalog/listings/{listing['id']}/submit"
    for lang, kind in (("zh", "公民身份号码"), ("en", "resident ID number")):
        refused = client.post(url, headers={**headers, "Accept-Language": lang})
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert kind in problem["detail"]
        assert "confirm_personal_data" in refused.text
        assert "手机" not in problem["detail"]  # only the sensitive kinds are named
    assert client.post(url, json={"confirm_personal_data": False}, headers=headers).status_code == 422
    assert db.get(Listing, listing["id"]).status == "draft"
    accepted = client.post(url, json={"confirm_personal_data": True}, headers=headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "pending"
    change = db.scalars(select(ListingChange).where(ListingChange.listing_id == listing["id"],
                                                    ListingChange.action == "submitted")).one()
    assert change.changes == {"personal_data_confirmed": ["resident_id"]}


def test_no_confirmation_without_download_or_without_sensitive_data(client, db, make, bearer, registration) -> None:  # type: ignore[no-untyped-def]
    user = make.user()
    headers = bearer(user)
    for reg, modes in ((_with_resident_ids(db, registration, make.actor(user)), ["api"]),
                       (registration(make.actor(user)), ["download"])):
        listing = client.post("/api/v1/catalog/listings", json={"registration_id": reg.id}, headers=headers).json()
        plan = {**PLAN, "delivery_modes": modes}
        assert client.post(f"/api/v1/catalog/listings/{listing['id']}/plans", json=plan,
                           headers=headers).status_code == 201
        assert client.post(f"/api/v1/catalog/listings/{listing['id']}/submit", headers=headers).status_code == 200


def test_a_download_plan_added_after_review_needs_confirmation(client, db, make, bearer, registration) -> None:  # type: ignore[no-untyped-def]
    user = make.user()
    headers = bearer(user)
    reg = _with_resident_ids(db, registration, make.actor(user))
    listing = client.post("/api/v1/catalog/listings", json={"registration_id": reg.id}, headers=headers).json()
    plans = f"/api/v1/catalog/listings/{listing['id']}/plans"
    assert client.post(plans, json={**PLAN, "delivery_modes": ["api"]}, headers=headers).status_code == 201
    assert client.post(f"/api/v1/catalog/listings/{listing['id']}/submit", headers=headers).status_code == 200
    refused = client.post(plans, json=PLAN, headers={**headers, "Accept-Language": "en"})
    assert refused.status_code == 422
    assert "resident ID number" in refused.json()["detail"]
    assert client.post(plans, json={**PLAN, "confirm_personal_data": True}, headers=headers).status_code == 201


def test_portal_warns_and_asks_for_the_checkbox(client, db, make, registration) -> None:  # type: ignore[no-untyped-def]
    from tests.accounts.test_portal import csrf, sign_in

    user = make.user()
    reg = _with_resident_ids(db, registration, make.actor(user), title_zh="含身份证号的居民数据")
    sign_in(client, user.email)
    mine = client.get("/catalog/mine", headers={"Accept-Language": "zh"}).text
    warning = mine.split('id="personal-data-warning"')[1].split("</div>")[0]
    assert "含身份证号的居民数据" in warning
    assert "公民身份号码" in warning
    assert "单独同意" in warning
    token = csrf(client, "/catalog/mine")
    created = client.post("/catalog/mine", data={"registration_id": reg.id, "data_type": "table", "csrf_token": token},
                          follow_redirects=False)
    listing_id = int(created.headers["location"].split("/")[2])
    form = {"kind": "one_time", "price": "800", "delivery_modes": ["download"], "purposes": ["research"],
            "term_days": "30", "territory": "CN", "csrf_token": token}
    assert client.post(f"/catalog/{listing_id}/plans", data=form, follow_redirects=False).status_code == 303
    client.cookies.set("qs_lang", "en")
    editor = client.get(f"/catalog/{listing_id}/edit", headers={"Accept-Language": "en"}).text
    assert "resident ID number" in editor.split('id="personal-data-warning"')[1].split("</div>")[0]
    assert 'name="confirm_personal_data"' in editor
    client.cookies.set("qs_lang", "zh")
    refused = client.post(f"/catalog/{listing_id}/submit", data={"csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 422
    assert "公民身份号码" in refused.text
    assert db.get(Listing, listing_id).status == "draft"
    confirmed = client.post(f"/catalog/{listing_id}/submit", data={"csrf_token": token, "confirm_personal_data": "on"},
                            follow_redirects=False)
    assert confirmed.status_code == 303
    db.expire_all()
    assert db.get(Listing, listing_id).status == "pending"
