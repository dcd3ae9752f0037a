"""The pledge forms as a person meets them: a refused form comes back as the certificate's lookup
page, with what was typed kept and every error beside its field in the reader's language, and
nothing written. A visitor who may not see the pledge still gets the error page."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from qianshu.core.i18n import LANG_COOKIE
from qianshu.finance.models import Pledge
from tests.accounts.test_form_errors import beside, visible_text
from tests.registry.helpers import sign_in


@pytest.mark.parametrize(("lang", "words"), [
    ("zh", {"secured_fen": "担保金额", "interest_bp": "年利率", "term_months": "期限（月）",
            "summary": "请更正以下 3 处问题"}),
    ("en", {"secured_fen": "Secured amount", "interest_bp": "Interest", "term_months": "Term (months)",
            "summary": "Please correct 3 problems"}),
])
def test_a_bad_pledge_comes_back_on_the_lookup_page(client, db, asset, lang, words) -> None:  # type: ignore[no-untyped-def]
    csrf = sign_in(client, asset.bank)
    client.cookies.set(LANG_COOKIE, lang)
    r = client.post("/finance/pledges", follow_redirects=False, data={
        "csrf_token": csrf, "certificate_number": asset.number, "pledgor_org_id": asset.holder.organisation.id,
        "secured_yuan": "一千万", "appraised_yuan": "30,000,000", "interest_percent": "3.8.1", "term_months": "0",
        "external_registry": "中国人民银行征信中心动产融资统一登记公示系统"})
    assert r.status_code == 422
    assert 'id="pledge-form"' in r.text
    assert asset.number in r.text
    for field in ("secured_fen", "interest_bp", "term_months"):
        assert words[field] in beside(r.text, field, "pledge"), field
    assert words["summary"] in visible_text(r.text.split('id="form-errors"', 1)[1].split("</div>", 1)[0])
    for kept in ("一千万", "30,000,000", "3.8.1", "中国人民银行征信中心动产融资统一登记公示系统"):
        assert f'value="{kept}"' in r.text, kept
    if lang == "zh":
        assert "Secured amount" not in visible_text(r.text)
    assert db.scalar(select(func.count(Pledge.id))) == 0


def test_enforcement_without_a_reason_stays_on_the_lookup_page(client, db, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    body = {"certificate_number": asset.number, "pledgor_org_id": asset.holder.organisation.id,
            "secured_fen": 1_500_000_000, "appraised_fen": 3_200_000_000, "interest_bp": 380, "term_months": 9}
    pledge_id = client.post("/api/v1/finance/pledges", json=body, headers=bearer(asset.bank)).json()["id"]
    db.get_one(Pledge, pledge_id).status = "active"
    db.commit()
    csrf = sign_in(client, asset.bank)
    r = client.post(f"/finance/pledges/{pledge_id}/enforce", follow_redirects=False,
                    data={"csrf_token": csrf, "reason": " ", "mode": "transfer"})
    assert r.status_code == 422
    assert "请说明处置质押的原因。" in beside(r.text, "reason", f"enforce-{pledge_id}")
    assert '<option value="transfer" selected>' in r.text
    db.expire_all()
    assert db.get_one(Pledge, pledge_id).status == "active"
    # someone who may not see the pledge: the error page, as before
    client.post("/sign-out", data={"csrf_token": csrf})
    client.cookies.clear()
    csrf = sign_in(client, asset.stranger)
    stranger = client.post(f"/finance/pledges/{pledge_id}/release", data={"csrf_token": csrf},
                           follow_redirects=False)
    assert stranger.status_code == 404
    assert 'id="lookup-form"' not in stranger.text


@pytest.mark.parametrize(("lang", "interest", "risk_pool", "term"), [
    ("zh", "年利率须在 0% 至 36% 之间。", "风险补偿资金池分担比例须在 0% 至 100% 之间。", "期限（月） 不能小于 1。"),
    ("en", "Interest must lie between 0 % and 36 %.", "Risk-pool share must lie between 0 % and 100 %.",
     "Term (months) must be at least 1."),
])
def test_a_pledge_form_states_its_limits_in_the_units_typed(  # type: ignore[no-untyped-def]
        client, db, asset, lang, interest, risk_pool, term) -> None:
    """The form takes percent: a rate of 500 % is refused as above 36 %, not as above "3600" (the
    API's basis points), a risk-pool share of 150 % as above 100 %, a term of 0 months as below 1."""
    csrf = sign_in(client, asset.bank)
    client.cookies.set(LANG_COOKIE, lang)
    r = client.post("/finance/pledges", follow_redirects=False, data={
        "csrf_token": csrf, "certificate_number": asset.number, "pledgor_org_id": asset.holder.organisation.id,
        "secured_yuan": "10,000,000", "appraised_yuan": "30,000,000", "interest_percent": "500",
        "term_months": "0", "risk_pool_percent": "150"})
    assert r.status_code == 422
    assert interest in visible_text(beside(r.text, "interest_bp", "pledge"))
    assert risk_pool in visible_text(beside(r.text, "risk_pool_bp", "pledge"))
    assert term in visible_text(beside(r.text, "term_months", "pledge"))
    shown = visible_text(r.text)
    assert ("担保金额（元）" if lang == "zh" else "Secured amount (yuan)") in shown  # the unit's brackets
    assert ("年利率（%）" if lang == "zh" else "Interest (%)") in shown
    assert "3600" not in visible_text(r.text)
    assert "10000" not in visible_text(r.text)
    assert db.scalar(select(func.count(Pledge.id))) == 0
