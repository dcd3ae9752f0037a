"""The voucher portal's forms as a person meets them: a refused form comes back as the same page,
with what was typed kept and every error beside its field in the reader's language; nothing is
written. Who may not use the form at all still gets the error page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from qianshu.core.i18n import LANG_COOKIE
from qianshu.vouchers.models import Application, ComputeOrder
from tests.accounts.test_form_errors import beside, visible_text
from tests.vouchers.conftest import World, issue
from tests.vouchers.test_api_pages import _sign_in


@pytest.mark.parametrize(("lang", "words"), [
    ("zh", {"planned_use": "使用计划", "requested_fen": "申请金额", "summary": "请更正以下 2 处问题"}),
    ("en", {"planned_use": "Planned use", "requested_fen": "Amount asked for", "summary": "Please correct 2 problems"}),
])
def test_a_bad_application_comes_back_with_both_errors(client, db, world: World, lang, words) -> None:
    token = _sign_in(client, db, world.company)
    client.cookies.set(LANG_COOKIE, lang)
    r = client.post(f"/vouchers/programmes/{world.programme_id}/apply", follow_redirects=False, data={
        "csrf_token": token, "purpose": "industry_model_adaptation", "company_size": "small",
        "planned_use": "训练", "requested_yuan": "12.345"})
    assert r.status_code == 422
    assert 'id="apply-form"' in r.text  # the programme page, not the error page
    assert words["planned_use"] in beside(r.text, "planned_use", "apply")
    assert words["requested_fen"] in beside(r.text, "requested_fen", "apply")
    assert words["summary"] in visible_text(r.text.split('id="form-errors"', 1)[1].split("</div>", 1)[0])
    assert 'value="12.345"' in r.text
    assert ">训练</textarea>" in r.text
    assert re.search(r'<option value="industry_model_adaptation" selected>', r.text)
    if lang == "zh":
        assert "Planned use" not in visible_text(r.text)
    db.expire_all()
    assert db.scalar(select(func.count(Application.id))) == 0


def test_a_refusal_of_the_service_names_its_field_and_keeps_the_order(client, db, world: World) -> None:
    vouchers = issue(db, world, world.company)
    token = _sign_in(client, db, world.company)
    client.cookies.set(LANG_COOKIE, "en")
    r = client.post(f"/vouchers/programmes/{world.programme_id}/order", follow_redirects=False, data={
        "csrf_token": token, "offering_id": str(world.offering_id), "card_hours": "500", "month": "2026-11",
        "term_months": "999", "purpose": "large_model_training", "voucher_ids": [str(v) for v in vouchers]})
    assert r.status_code == 422
    assert "Term (months)" in beside(r.text, "term_months", "order")
    assert 'value="999"' in r.text
    assert 'value="500"' in r.text
    db.expire_all()
    assert db.scalar(select(func.count(ComputeOrder.id))) == 0


def test_a_rejection_without_a_reason_stays_on_the_programme_page(client, db, world: World) -> None:
    from qianshu.vouchers import schemas, service

    application = service.apply(db, world.actor(world.company), world.programme_id, schemas.ApplicationIn(
        purpose="large_model_training", company_size="small", planned_use="训练交通行业大模型", requested_fen=100_00))
    token = _sign_in(client, db, world.admin)
    r = client.post(f"/vouchers/applications/{application.id}/decide", follow_redirects=False,
                    data={"csrf_token": token, "decision": "reject", "reason": " "})
    assert r.status_code == 422
    assert "请向申请企业说明理由。" in beside(r.text, "reason", f"decision-{application.id}")
    db.expire_all()
    assert db.get_one(Application, application.id).status == "pending"


def test_usage_without_a_file_comes_back_with_the_hours_kept(client, db, world: World) -> None:
    vouchers = issue(db, world, world.company)
    token = _sign_in(client, db, world.company)
    made = client.post(f"/vouchers/programmes/{world.programme_id}/order", follow_redirects=False, data={
        "csrf_token": token, "offering_id": str(world.offering_id), "card_hours": "500", "month": "2026-11",
        "term_months": "1", "purpose": "large_model_training", "voucher_ids": [str(v) for v in vouchers]})
    order_url = made.headers["location"]
    client.cookies.clear()
    token = _sign_in(client, db, world.provider)
    client.cookies.set(LANG_COOKIE, "en")
    r = client.post(f"{order_url}/usage?csrf_token={token}", data={"used_card_hours": "abc"},
                    files={"other": ("x.txt", b"x", "text/plain")}, follow_redirects=False)
    assert r.status_code == 422
    assert "Card-hours used" in beside(r.text, "used_card_hours", "usage")
    assert "Metering evidence" in beside(r.text, "evidence_base64", "usage")
    assert 'value="abc"' in r.text
    # a stranger still meets the error page: the form is not theirs to use
    client.cookies.clear()
    token = _sign_in(client, db, world.other_provider)
    stranger = client.post(f"{order_url}/usage?csrf_token={token}", data={"used_card_hours": "1"},
                           files={"evidence": ("m.csv", b"x", "text/csv")}, follow_redirects=False)
    assert stranger.status_code in (403, 404)
    assert 'id="usage-form"' not in stranger.text
