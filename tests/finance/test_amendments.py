"""Amendments agreed by both parties in the portal: one proposes (secured amount, rate, term),
the other agrees (a leaf of the log) or declines; a proposer cannot agree to its own proposal."""

from __future__ import annotations

from sqlalchemy import select

from qianshu.finance.models import Pledge
from tests.registry.helpers import sign_in


def test_the_bank_proposes_and_the_holder_agrees(client, db, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    body = {"certificate_number": asset.number, "pledgor_org_id": asset.holder.organisation.id,
            "secured_fen": 800_000_000, "appraised_fen": 2_000_000_000, "interest_bp": 400, "term_months": 12}
    pledge_id = client.post("/api/v1/finance/pledges", json=body, headers=bearer(asset.bank)).json()["id"]
    client.post(f"/api/v1/finance/pledges/{pledge_id}/confirm", headers=bearer(asset.holder))

    csrf = sign_in(client, asset.bank)
    page = client.get(f"/finance/lookup?number={asset.number}")
    assert f'id="amend-form-{pledge_id}"' in page.text
    too_much = client.post(f"/finance/pledges/{pledge_id}/propose",
                           data={"csrf_token": csrf, "secured_yuan": "20,000,000"}, follow_redirects=False)
    assert too_much.status_code == 422  # above the loan-to-value limit, refused at once
    r = client.post(f"/finance/pledges/{pledge_id}/propose", data={
        "csrf_token": csrf, "secured_yuan": "9,000,000", "interest_percent": "3.5", "term_months": "18",
        "reason": "展期 / extension"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(f"/finance/lookup?number={asset.number}")
    assert f'id="amendment-{pledge_id}"' in page.text
    assert f'id="agree-{pledge_id}"' not in page.text  # not one's own proposal
    assert client.post(f"/finance/pledges/{pledge_id}/agree", data={"csrf_token": csrf},
                       follow_redirects=False).status_code == 409
    db.expire_all()
    assert db.get(Pledge, pledge_id).secured_fen == 800_000_000  # nothing changes before agreement

    client.post("/sign-out", data={"csrf_token": csrf})
    client.cookies.clear()
    csrf = sign_in(client, asset.holder)
    page = client.get(f"/finance/lookup?number={asset.number}")
    assert f'id="agree-{pledge_id}"' in page.text
    r = client.post(f"/finance/pledges/{pledge_id}/agree", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    pledge = db.scalars(select(Pledge).where(Pledge.id == pledge_id)).one()
    assert (pledge.secured_fen, pledge.interest_bp, pledge.term_months, pledge.proposed_amendment) == (
        900_000_000, 350, 18, {})
    assert pledge.events[-1].action == "amended"
    client.cookies.set("qs_lang", "en")
    assert client.get(f"/finance/lookup?number={asset.number}").status_code == 200


def test_a_stranger_cannot_propose(client, db, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    body = {"certificate_number": asset.number, "pledgor_org_id": asset.holder.organisation.id,
            "secured_fen": 800_000_000, "appraised_fen": 2_000_000_000, "interest_bp": 400, "term_months": 12}
    pledge_id = client.post("/api/v1/finance/pledges", json=body, headers=bearer(asset.bank)).json()["id"]
    csrf = sign_in(client, asset.other_bank)
    r = client.post(f"/finance/pledges/{pledge_id}/propose", data={"csrf_token": csrf, "term_months": "6"},
                    follow_redirects=False)
    assert r.status_code in (403, 404)
    db.expire_all()
    assert db.get(Pledge, pledge_id).proposed_amendment == {}


def test_amendments_over_the_api(client, db, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    body = {"certificate_number": asset.number, "pledgor_org_id": asset.holder.organisation.id,
            "secured_fen": 800_000_000, "appraised_fen": 2_000_000_000, "interest_bp": 400, "term_months": 12}
    pledge_id = client.post("/api/v1/finance/pledges", json=body, headers=bearer(asset.bank)).json()["id"]
    proposed = client.post(f"/api/v1/finance/pledges/{pledge_id}/amendments", json={"term_months": 24},
                           headers=bearer(asset.holder))
    assert proposed.status_code == 200, proposed.text
    assert proposed.json()["proposed_amendment"]["by"] == "pledgor"
    own = client.post(f"/api/v1/finance/pledges/{pledge_id}/amendments/decision", json={"agree": True},
                      headers=bearer(asset.holder))
    assert own.status_code == 409
    agreed = client.post(f"/api/v1/finance/pledges/{pledge_id}/amendments/decision", json={"agree": True},
                         headers=bearer(asset.bank))
    assert (agreed.json()["term_months"], agreed.json()["proposed_amendment"]) == (24, {})
