"""A pledged asset's holder is challenged: an objection against the renewal (or change, or
transfer) of the pledged registration, filed in its public notice, and the exchange's decision on
it, reach the pledgee bank's inbox through the registry's ``registration.challenged`` event
(delivered after commit), in both languages; a bank without a pledge hears nothing."""

from __future__ import annotations

from sqlalchemy import select

from qianshu.core.inbox import Notification, render
from qianshu.registry import review, schemas
from tests.finance.test_pledges import _pledge, make_actor


def _bank_notes(db, org_id):  # type: ignore[no-untyped-def]
    return db.scalars(select(Notification).where(Notification.org_id == org_id, Notification.capability == "finance")
                      .order_by(Notification.id)).all()


def test_an_objection_to_a_pledged_assets_renewal_alerts_the_bank(client, db, settings, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    pledge = client.post("/api/v1/finance/pledges", json=_pledge(asset), headers=bearer(asset.bank)).json()
    holder, operator = make_actor(asset.holder), make_actor(asset.operator)
    renewal = review.start_follow_up(db, holder, asset.registration_id, schemas.FollowUpIn(reg_type="renewal"))
    review.submit(db, holder, renewal.id)
    review.approve(db, operator, settings, renewal.id, schemas.Approval())
    db.commit()
    before = len(_bank_notes(db, asset.bank.organisation.id))
    objection = review.file_objection(db, make_actor(asset.stranger), renewal.id, "该数据由我方采集，持有人无权续期。")
    db.commit()
    notes = _bank_notes(db, asset.bank.organisation.id)[before:]
    assert [(n.subject_type, n.subject_id) for n in notes] == [("pledge", pledge["id"])]
    assert render(notes[0], "zh") == (f"有人对您持有质权的 {asset.number} 的续期登记提出异议，持有人的权利受到质疑"
                                      "（该数据由我方采集，持有人无权续期。）。")
    assert render(notes[0], "en").startswith(
        f"An objection was filed against the Renewal registration of {asset.number}")
    review.decide_objection(db, operator, objection.id, True, "权属存在争议")
    db.commit()
    upheld = _bank_notes(db, asset.bank.organisation.id)[before + 1:]
    assert [render(n, "en").endswith("was upheld: the holder's rights are in dispute.") for n in upheld] == [True]
    assert _bank_notes(db, asset.other_bank.organisation.id) == []  # no pledge, no alert
