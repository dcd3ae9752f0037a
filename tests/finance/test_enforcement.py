"""Enforcement on default by transfer: the rights pass to the pledgee bank through the registry's
transfer (submitted at once, reviewed, noticed and issued by the exchange as any transfer), and
the old certificate then shows as transferred; another bank's open pledge still blocks the issue."""

from __future__ import annotations

import datetime as dt

import pytest

from qianshu.core.errors import Conflict
from qianshu.core.signing import load_signer
from qianshu.registry import review, schemas
from qianshu.registry.models import Registration
from tests.registry.helpers import sign_in


def _active_pledge(client, asset, bearer, bank, secured=400_000_000):  # type: ignore[no-untyped-def]
    body = {"certificate_number": asset.number, "pledgor_org_id": asset.holder.organisation.id,
            "secured_fen": secured, "appraised_fen": 2_000_000_000, "interest_bp": 400, "term_months": 12}
    made = client.post("/api/v1/finance/pledges", json=body, headers=bearer(bank))
    assert made.status_code == 201, made.text
    client.post(f"/api/v1/finance/pledges/{made.json()['id']}/confirm", headers=bearer(asset.holder))
    return made.json()["id"]


def _review_and_issue(db, settings, make, asset, reg_id):  # type: ignore[no-untyped-def]
    reviewer = make.actor(make.operator(staff_role="reviewer"))
    review.approve(db, reviewer, settings, reg_id, schemas.Approval())
    reg = db.get(Registration, reg_id)
    return review.issue_certificate(db, make.actor(asset.operator), settings, load_signer(settings.key_dir), reg_id,
                                    now=reg.notice_ends_at + dt.timedelta(seconds=1))


def test_enforcement_by_transfer_to_the_pledgee(client, db, settings, make, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    pledge_id = _active_pledge(client, asset, bearer, asset.bank)
    r = client.post(f"/api/v1/finance/pledges/{pledge_id}/enforce",
                    json={"reason": "借款人逾期 90 天", "mode": "transfer"}, headers=bearer(asset.bank))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "enforced"
    status = client.get(f"/api/v1/finance/certificates/{asset.number}/status", headers=bearer(asset.bank)).json()
    event = status["pledges"][0]["events"][-1]
    assert event["details"]["mode"] == "transfer"
    transfer_id = event["details"]["transfer_registration_id"]
    # while the rights pass to the bank no one lends against the asset again (nor blocks the transfer so)
    body = {"certificate_number": asset.number, "pledgor_org_id": asset.holder.organisation.id,
            "secured_fen": 100_000_000, "appraised_fen": 2_000_000_000, "interest_bp": 400, "term_months": 6}
    for lang, words in (("zh", "正在转移"), ("en", "passing to another holder")):
        again = client.post("/api/v1/finance/pledges", json=body,
                            headers=bearer(asset.other_bank) | {"Accept-Language": lang})
        assert again.status_code == 409, again.text
        assert (again.json()["code"], again.json()["field"]) == ("transfer_under_way", "certificate_number")
        assert words in again.json()["detail"]
    assert client.get(f"/api/v1/finance/certificates/{asset.number}/status").json()["open_pledges"] == 0
    sign_in(client, asset.other_bank)  # and the lookup page says so instead of offering a form it would refuse
    page = client.get(f"/finance/lookup?number={asset.number}").text
    assert 'id="transfer-under-way"' in page
    assert 'id="pledge-form"' not in page
    assert f'id="transfer-{pledge_id}"' not in page  # another bank cannot open the transfer registration: no link to it
    client.cookies.clear()
    sign_in(client, asset.bank)  # the pledgee (the transferee) follows the enforcement to its transfer registration
    page = client.get(f"/finance/lookup?number={asset.number}").text
    assert f'id="transfer-{pledge_id}"' in page
    assert f'href="/registry/{transfer_id}"' in page
    assert client.get(f"/registry/{transfer_id}").status_code == 200
    client.cookies.clear()
    transfer = db.get(Registration, transfer_id)
    assert (transfer.reg_type, transfer.status, transfer.transferee_org_id) == (
        "transfer", "submitted", asset.bank.organisation.id)
    cert = _review_and_issue(db, settings, make, asset, transfer_id)
    db.commit()
    assert cert.registration_id == transfer_id
    after = client.get(f"/api/v1/finance/certificates/{asset.number}/status").json()
    assert after["status"] == "transferred"
    assert after["encumbered"] is False
    assert after["current_number"] == cert.number  # the lookup leads to the bank's new certificate
    new = client.get(f"/api/v1/finance/certificates/{cert.number}/status").json()
    assert new["status"] == "valid"
    assert review.certificate_by_number(db, cert.number).registration_id == transfer_id


def test_another_banks_open_pledge_blocks_the_transfer(client, db, settings, make, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    first = _active_pledge(client, asset, bearer, asset.bank)
    _active_pledge(client, asset, bearer, asset.other_bank, secured=100_000_000)
    r = client.post(f"/api/v1/finance/pledges/{first}/enforce", json={"reason": "逾期", "mode": "transfer"},
                    headers=bearer(asset.bank))
    assert r.status_code == 200, r.text
    seen = client.get(f"/api/v1/finance/certificates/{asset.number}/status", headers=bearer(asset.bank)).json()
    transfer_id = seen["pledges"][0]["events"][-1]["details"]["transfer_registration_id"]
    with pytest.raises(Conflict):  # the other bank must release its pledge first
        _review_and_issue(db, settings, make, asset, transfer_id)
