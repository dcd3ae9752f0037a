"""Pledges end to end over the API: register, confirm, look up (with inclusion proofs), release,
enforce; the refusals a bank or a holder would meet, each naming its field, changing nothing."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re

import pytest
from sqlalchemy import func, select

from qianshu.core.errors import Conflict
from qianshu.core.inbox import Notification
from qianshu.core.signing import load_signer
from qianshu.finance.models import Pledge
from qianshu.registry import review
from qianshu.translog import merkle
from qianshu.translog import service as log


def _pledge(asset, **changes):  # type: ignore[no-untyped-def]
    body = {"certificate_number": asset.number, "pledgor_org_id": asset.holder.organisation.id,
            "secured_fen": 800_000_000, "appraised_fen": 2_000_000_000, "interest_bp": 400, "term_months": 12,
            "risk_pool_bp": 7000}
    return body | changes


def _state(db):  # type: ignore[no-untyped-def]
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Pledge)), log.tree_size(db)


def test_a_pledge_from_registration_to_release(client, db, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    bank, holder = bearer(asset.bank), bearer(asset.holder)
    before = client.get(f"/api/v1/finance/certificates/{asset.number}/status").json()
    assert (before["status"], before["encumbered"], before["pledges"]) == ("valid", False, [])

    made = client.post("/api/v1/finance/pledges", json=_pledge(asset), headers=bank)
    assert made.status_code == 201, made.text
    pledge = made.json()
    assert (pledge["status"], pledge["ltv_bp"], pledge["ltv_limit_bp"]) == ("pending", 4000, 5000)
    # the holder is told and confirms
    assert db.scalar(select(func.count()).select_from(Notification).where(
        Notification.org_id == asset.holder.organisation.id, Notification.capability == "finance")) == 1
    assert client.post(f"/api/v1/finance/pledges/{pledge['id']}/confirm", headers=bank).status_code in (403, 404)
    confirmed = client.post(f"/api/v1/finance/pledges/{pledge['id']}/confirm", headers=holder)
    assert confirmed.json()["status"] == "active"

    public = client.get(f"/api/v1/finance/certificates/{asset.number}/status").json()
    assert (public["encumbered"], public["open_pledges"], public["pledges"]) == (True, 1, [])
    seen = client.get(f"/api/v1/finance/certificates/{asset.number}/status", headers=bank).json()
    assert [e["action"] for e in seen["pledges"][0]["events"]] == ["registered", "confirmed"]
    as_operator = client.get(f"/api/v1/finance/certificates/{asset.number}/status", headers=bearer(asset.operator))
    assert [p["id"] for p in as_operator.json()["pledges"]] == [pledge["id"]]
    other = client.get(f"/api/v1/finance/certificates/{asset.number}/status", headers=bearer(asset.other_bank))
    assert other.json()["pledges"] == []  # another bank sees the encumbrance, not the loan
    # each event's proof leads from its leaf to the signed root
    for event in seen["pledges"][0]["events"]:
        proof = event["proof"]
        leaf = log.get_leaf(db, event["log_index"])
        assert proof["leaf_hash"] == base64.b64encode(hashlib.sha256(b"\x00" + leaf.leaf).digest()).decode()
        root = merkle.root_from_inclusion_proof(event["log_index"], proof["tree_size"],
                                                base64.b64decode(proof["leaf_hash"]),
                                                [base64.b64decode(h) for h in proof["inclusion_path"]])
        assert base64.b64encode(root).decode() == proof["root_hash"]
        assert leaf.document["type"] == f"finance.pledge.{event['action']}"

    assert client.post(f"/api/v1/finance/pledges/{pledge['id']}/release", json={},
                       headers=bearer(asset.other_bank)).status_code in (403, 404)
    assert client.post(f"/api/v1/finance/pledges/{pledge['id']}/release", json={},
                       headers=holder).status_code in (403, 404)
    released = client.post(f"/api/v1/finance/pledges/{pledge['id']}/release", json={"reason": "贷款结清"},
                           headers=bank)
    assert released.json()["status"] == "released"
    after = client.get(f"/api/v1/finance/certificates/{asset.number}/status").json()
    assert (after["encumbered"], after["open_pledges"]) == (False, 0)


def test_the_loan_to_value_limit_is_the_banks_per_category(client, db, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    bank = bearer(asset.bank)
    too_much = client.post("/api/v1/finance/pledges", json=_pledge(asset, secured_fen=1_200_000_000),
                           headers={**bank, "Accept-Language": "en"})
    assert too_much.status_code == 422
    assert "secured_fen" in too_much.text
    assert "60.0 %" in too_much.text
    assert "50 %" in too_much.text
    before = _state(db)
    # the bank raises its limit for the asset's section (I: information services) to 70 %
    assert client.put("/api/v1/finance/ltv-limits", json={"category": "I", "limit_bp": 7000},
                      headers=bank).status_code == 200
    assert _state(db) == before
    assert client.get("/api/v1/finance/ltv-limits", headers=bank).json() == [{"category": "I", "limit_bp": 7000}]
    assert client.post("/api/v1/finance/pledges", json=_pledge(asset, secured_fen=1_200_000_000),
                       headers=bank).status_code == 201
    # the asset's remaining value is what a second bank can still take: nothing at 60 % + 20 %
    second = client.post("/api/v1/finance/pledges", json=_pledge(asset, secured_fen=400_000_000),
                         headers=bearer(asset.other_bank))
    assert second.status_code == 422
    assert "secured_fen" in second.text


def test_bad_pledges_are_refused_by_field_and_change_nothing(  # type: ignore[no-untyped-def]
        client, db, asset, bearer, settings) -> None:
    bank = bearer(asset.bank)
    before = _state(db)
    cases = [
        (_pledge(asset, pledgor_org_id=asset.stranger.organisation.id), 409, "pledgor_org_id"),
        (_pledge(asset, certificate_number="QS-DR-2026-99999"), 422, "certificate_number"),
        (_pledge(asset, certificate_number="QS-DR-2099-999999"), 404, ""),
        (_pledge(asset, secured_fen=-5), 422, "secured_fen"),
        (_pledge(asset, interest_bp=50_000), 422, "interest_bp"),
        (_pledge(asset, external_registry="中国人民银行动产融资统一登记公示系统"), 422, "external_number"),
    ]
    for body, status, field in cases:
        details = {}
        for lang in ("zh", "en"):
            r = client.post("/api/v1/finance/pledges", json=body, headers={**bank, "Accept-Language": lang})
            assert r.status_code == status, (body, r.text)
            assert field in r.text
            details[lang] = r.json()["detail"]
        assert re.search(r"[\u4e00-\u9fff]", details["zh"]), details  # Chinese, and
        assert details["zh"] != details["en"], details  # English
    assert client.post("/api/v1/finance/pledges", json=_pledge(asset), headers=bearer(asset.holder)).status_code == 403
    assert client.post("/api/v1/finance/pledges", json=_pledge(asset)).status_code == 401
    assert _state(db) == before
    # a revoked certificate is not pledgeable
    review.revoke(db, make_actor(asset.operator), asset.registration_id, "登记数据失实")
    db.commit()
    r = client.post("/api/v1/finance/pledges", json=_pledge(asset), headers={**bank, "Accept-Language": "zh"})
    assert r.status_code == 409
    assert "certificate_number" in r.text
    assert "已撤销" in r.text
    status = client.get(f"/api/v1/finance/certificates/{asset.number}/status").json()
    assert status["status"] == "revoked"


def make_actor(user):  # type: ignore[no-untyped-def]
    from qianshu.accounts.service import actor_for

    return actor_for(user, via="api", ip=None)


def test_lookups_of_unknown_or_malformed_numbers(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/finance/certificates/QS-DR-2026-000999/status")
    assert r.status_code == 404
    r = client.get("/api/v1/finance/certificates/not-a-number/status", headers={"Accept-Language": "en"})
    assert r.status_code == 422
    assert "QS-DR-YYYY-NNNNNN" in r.text
    page = client.get("/finance/lookup?number=<script>")
    assert page.status_code == 422
    assert "<script>" not in page.text


def test_a_pledged_asset_is_not_revoked_and_its_pledgee_is_told(client, db, database, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    pledge = client.post("/api/v1/finance/pledges", json=_pledge(asset), headers=bearer(asset.bank)).json()
    db.commit()
    with pytest.raises(Conflict) as refused:
        review.revoke(db, make_actor(asset.operator), asset.registration_id, "持有人申请撤销")
    assert refused.value.field == "registration_id"
    assert asset.number in str(refused.value)
    db.rollback()
    assert client.get(f"/api/v1/finance/certificates/{asset.number}/status").json()["status"] == "valid"
    notes = db.scalars(select(Notification).where(Notification.org_id == asset.bank.organisation.id)).all()
    assert [(n.subject_type, n.subject_id) for n in notes] == [("pledge", pledge["id"])]
    from qianshu.core.inbox import render

    assert render(notes[0], "zh") == f"有人试图撤销或转让您持有质权的登记 {asset.number}（持有人申请撤销），已被拒绝。"
    # released, the registration can go
    client.post(f"/api/v1/finance/pledges/{pledge['id']}/release", json={}, headers=bearer(asset.bank))
    db.expire_all()
    review.revoke(db, make_actor(asset.operator), asset.registration_id, "持有人申请撤销",
                  load_signer_for(client))
    db.commit()


def load_signer_for(client):  # type: ignore[no-untyped-def]
    return load_signer(client.app.state.settings.key_dir)


def test_enforcement_on_default_by_the_pledgee_only(client, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    bank = bearer(asset.bank)
    pledge = client.post("/api/v1/finance/pledges", json=_pledge(asset, external_registry="动产融资统一登记公示系统",
                                                                external_number="0451 2026 1130 0001"),
                         headers=bank).json()
    assert pledge["external_number"] == "0451 2026 1130 0001"
    # a pending pledge is not enforced; an active one is, with a reason, by its bank only
    assert client.post(f"/api/v1/finance/pledges/{pledge['id']}/enforce", json={"reason": "逾期"},
                       headers=bank).status_code == 409
    client.post(f"/api/v1/finance/pledges/{pledge['id']}/confirm", headers=bearer(asset.holder))
    assert client.post(f"/api/v1/finance/pledges/{pledge['id']}/enforce", json={"reason": "逾期"},
                       headers=bearer(asset.other_bank)).status_code in (403, 404)
    r = client.post(f"/api/v1/finance/pledges/{pledge['id']}/enforce", json={"reason": ""}, headers=bank)
    assert r.status_code == 422
    assert "reason" in r.text
    r = client.post(f"/api/v1/finance/pledges/{pledge['id']}/enforce", json={"reason": "借款人逾期 90 天"},
                    headers=bank)
    assert r.json()["status"] == "enforced"
    amended = client.post(f"/api/v1/finance/pledges/{pledge['id']}/amend", json={"interest_bp": 300}, headers=bank)
    assert amended.status_code == 409
    portfolio = client.get("/api/v1/finance/pledges", headers=bank).json()
    assert [p["status"] for p in portfolio] == ["enforced"]


def test_an_expired_certificate_is_not_pledged(client, db, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    from qianshu.registry.models import Registration

    reg = db.get(Registration, asset.registration_id)
    reg.valid_until = reg.issued_at.date().replace(year=reg.issued_at.year - 1)  # as if three years had passed
    db.commit()
    r = client.post("/api/v1/finance/pledges", json=_pledge(asset), headers={**bearer(asset.bank),
                                                                             "Accept-Language": "en"})
    assert r.status_code == 409
    assert "expired" in r.json()["detail"]
    assert client.get(f"/api/v1/finance/certificates/{asset.number}/status").json()["status"] == "expired"


def test_a_renewal_of_a_pledged_asset_is_told_to_its_bank(client, db, settings, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    from qianshu.core.inbox import render
    from qianshu.registry import schemas
    from qianshu.registry import service as registry

    pledge = client.post("/api/v1/finance/pledges", json=_pledge(asset), headers=bearer(asset.bank)).json()
    holder = make_actor(asset.holder)
    renewal = review.start_follow_up(db, holder, asset.registration_id, schemas.FollowUpIn(reg_type="renewal"))
    review.submit(db, holder, renewal.id)
    review.approve(db, make_actor(asset.operator), settings, renewal.id, schemas.Approval())
    reg = registry.load_registration(db, renewal.id)
    review.issue_certificate(db, make_actor(asset.operator), settings, load_signer(settings.key_dir), renewal.id,
                             now=reg.notice_ends_at + dt.timedelta(seconds=1))
    db.commit()
    db.refresh(reg)
    notes = db.scalars(select(Notification).where(Notification.org_id == asset.bank.organisation.id)).all()
    assert [(n.subject_type, n.subject_id) for n in notes] == [("pledge", pledge["id"])]
    assert render(notes[0], "zh") == f"您持有质权的登记 {asset.number} 已被新登记取代（续期登记）：{reg.number}。"
    assert render(notes[0], "en").endswith(f"was replaced (Renewal registration): {reg.number}.")
    old = client.get(f"/api/v1/finance/certificates/{asset.number}/status").json()
    assert (old["status"], old["current_number"]) == ("superseded", reg.number)  # the bank finds the new one
    page = client.get(f"/finance/lookup?number={asset.number}").text
    assert f'现行证书：<a href="/finance/lookup?number={reg.number}">' in page
    # The renewal does not free the asset: its new certificate is encumbered by the same pledge, a
    # second pledge counts it against the limit, and the new registration cannot be revoked.
    renewed = client.get(f"/api/v1/finance/certificates/{reg.number}/status", headers=bearer(asset.bank)).json()
    assert (renewed["status"], renewed["encumbered"], renewed["open_pledges"]) == ("valid", True, 1)
    again = client.post("/api/v1/finance/pledges", json=_pledge(asset, certificate_number=reg.number),
                        headers=bearer(asset.bank))
    assert again.status_code == 422, again.text
    assert again.json()["code"] == "ltv_above_limit"
    with pytest.raises(Conflict):
        review.revoke(db, make_actor(asset.operator), reg.id, "测试")


def test_a_loan_starts_on_the_day_in_china(client, asset, bearer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A pledge registered at 07:30 in Guiyang (23:30 UTC the day before) starts that day in China,
    and a loan of twelve months matures on the same day a year on, not a day early."""
    from qianshu.finance import service

    guiyang_morning = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)  # 2 December, 07:30 in China
    monkeypatch.setattr(service, "utcnow", lambda: guiyang_morning)
    made = client.post("/api/v1/finance/pledges", json=_pledge(asset), headers=bearer(asset.bank))
    assert made.status_code == 201, made.text
    assert (made.json()["starts_on"], made.json()["matures_on"]) == ("2026-12-02", "2027-12-02")
