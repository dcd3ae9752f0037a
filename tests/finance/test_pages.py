"""The portal: the lookup page (from the verification page's link), the holder's confirmation,
the bank's portfolio and its view of each event's inclusion proof."""

from __future__ import annotations

from sqlalchemy import select

from qianshu.finance.models import Pledge
from tests.registry.helpers import sign_in


def _pledge(client, asset, bearer):  # type: ignore[no-untyped-def]
    body = {"certificate_number": asset.number, "pledgor_org_id": asset.holder.organisation.id,
            "secured_fen": 1_500_000_000, "appraised_fen": 3_200_000_000, "interest_bp": 380, "term_months": 9,
            "external_registry": "动产融资统一登记公示系统", "external_number": "0451 2026 1130 0001"}
    r = client.post("/api/v1/finance/pledges", json=body, headers=bearer(asset.bank))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _standing(page: str) -> str:
    return page.split('id="standing"')[1].split("</div>")[0]


def test_lookup_confirm_and_portfolio_in_the_portal(client, db, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    verify = client.get(f"/registry/verify?number={asset.number}")
    assert f'/finance/lookup?number={asset.number}' in verify.text  # the slot of the verification page
    page = client.get(f"/finance/lookup?number={asset.number}")
    assert page.status_code == 200
    assert "未设质押" in page.text
    assert "持有主体：" in page.text
    assert "持有主体:" not in page.text
    # the certificate's page, where its QR code leads, says at once whether it stands and is pledged
    certificate = client.get(f"/registry/certificates/{asset.number}")
    assert "未设质押" in _standing(certificate.text)

    pledge_id = _pledge(client, asset, bearer)
    page = client.get(f"/finance/lookup?number={asset.number}")
    assert "已设质押：1 笔未解除的质押" in page.text
    standing = _standing(client.get(f"/registry/certificates/{asset.number}").text)
    assert "已设质押：1 笔未解除的质押" in standing
    assert f'href="/finance/lookup?number={asset.number}"' in standing
    client.cookies.set("qs_lang", "en")
    assert "Encumbered: 1 open pledge<" in _standing(client.get(f"/registry/certificates/{asset.number}").text)
    client.cookies.delete("qs_lang")
    assert 'id="pledge-' not in page.text  # an anonymous visitor sees the encumbrance, not the loan

    csrf = sign_in(client, asset.holder)
    page = client.get(f"/finance/lookup?number={asset.number}")
    assert f'id="confirm-{pledge_id}"' in page.text
    r = client.post(f"/finance/pledges/{pledge_id}/confirm", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    assert db.scalar(select(Pledge.status).where(Pledge.id == pledge_id)) == "active"

    client.post("/sign-out", data={"csrf_token": csrf})
    client.cookies.clear()
    sign_in(client, asset.bank)
    page = client.get(f"/finance/lookup?number={asset.number}")
    assert "出质人确认" in page.text  # the history, with the confirmation
    assert page.text.count("包含证明") == 2  # one inclusion proof per event
    holder_name = asset.holder.organisation.name
    card = page.text.split(f'id="pledge-{pledge_id}"')[1]
    assert "贵阳农商银行" in card.split(f'id="pledgee-{pledge_id}"')[1].split("</td>")[0]  # who lends
    assert holder_name in card.split(f'id="pledgor-{pledge_id}"')[1].split("</td>")[0]  # and who borrows
    assert "(9 个月)" in card  # the term, from its start to its maturity
    # release and enforcement: each form under its own heading, not two bare "reason" fields
    assert "<h3>解除质押</h3>" in card.split(f'id="release-form-{pledge_id}"')[1].split("</form>")[0]
    assert "<h3>违约处置</h3>" in card.split(f'id="enforce-form-{pledge_id}"')[1].split("</form>")[0]
    portfolio = client.get("/finance/pledges")
    assert asset.number in portfolio.text
    assert "15,000,000" in portfolio.text
    row = portfolio.text.split('id="portfolio"')[1].split("</table>")[0]
    assert holder_name in row  # the borrower
    assert "32,000,000" in row  # the appraised value beside the secured amount
    assert "担保金额（元）" in row
    assert 'action="/finance/lookup"' in portfolio.text  # the next certificate to lend against, from here
    client.cookies.set("qs_lang", "en")
    english = client.get(f"/finance/lookup?number={asset.number}").text
    assert '<span lang="zh-CN">动产融资统一登记公示系统</span> <code>0451 2026 1130 0001</code>' in english
    # the pledge's status and its history read as labels in English, as the Chinese page's do
    card = english.split(f'id="pledge-{pledge_id}"')[1]
    assert f"#{pledge_id} — Active</h2>" in english
    assert " · Registered · " in card
    assert " · Confirmed · " in card
    assert " · registered · " not in card
    assert "— active<" not in english
    row = client.get("/finance/pledges").text.split('id="portfolio"')[1].split("</table>")[0]
    assert "<td>Active</td>" in row
    client.cookies.set("qs_lang", "zh")
    chinese = client.get(f"/finance/lookup?number={asset.number}").text
    assert f"#{pledge_id} — 生效中</h2>" in chinese
    assert " · 登记质押 · " in chinese
    assert " · 出质人确认 · " in chinese
    assert "<td>生效中</td>" in client.get("/finance/pledges").text.split('id="portfolio"')[1].split("</table>")[0]
    client.cookies.set("qs_lang", "en")
    assert "50.0 %" in portfolio.text.split('id="limits"')[1]  # the exchange's default, none of its own


def test_a_bank_registers_a_pledge_in_the_portal(client, db, asset) -> None:  # type: ignore[no-untyped-def]
    csrf = sign_in(client, asset.bank)
    page = client.get(f"/finance/lookup?number={asset.number}")
    assert 'id="pledge-form"' in page.text
    form = {"csrf_token": csrf, "certificate_number": asset.number, "pledgor_org_id": asset.holder.organisation.id,
            "secured_yuan": "12,000,000", "appraised_yuan": "30,000,000.00", "interest_percent": "3.8",
            "term_months": "12", "risk_pool_percent": "70"}
    bad = client.post("/finance/pledges", data=form | {"interest_percent": "3.8.1"}, follow_redirects=False)
    assert bad.status_code == 422
    assert "年利率：请填写数字。" in bad.text  # beside its field, on the lookup page (tests/finance/test_form_path.py)
    assert db.scalar(select(Pledge.id)) is None
    r = client.post("/finance/pledges", data=form, follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    pledge = db.scalars(select(Pledge)).one()
    assert (pledge.secured_fen, pledge.appraised_fen, pledge.interest_bp, pledge.risk_pool_bp) == (
        1_200_000_000, 3_000_000_000, 380, 7000)
    assert 'id="pledge-form"' in client.get(f"/finance/lookup?number={asset.number}").text  # remaining value


def test_a_bank_sets_its_loan_to_value_limits_in_the_portal(client, db, make) -> None:  # type: ignore[no-untyped-def]
    from qianshu.core.audit import AuditEvent
    from qianshu.finance.models import LtvLimit

    bank = make.user(organisation=make.org(org_type="bank", name="贵阳农商银行"))
    csrf = sign_in(client, bank)
    page = client.get("/finance/pledges")
    assert 'id="limit-form"' in page.text
    assert "质押率上限（%）" in page.text
    # refused in the page's language beside its field, nothing stored
    for typed, words in (({"limit_percent": "120"}, "质押率上限（%）"), ({"limit_percent": "六十"}, "请填写数字"),
                         ({"category": "Z99", "limit_percent": "60"}, "产品类别")):
        bad = client.post("/finance/ltv-limits", data={"csrf_token": csrf, "category": "G"} | typed)
        assert bad.status_code == 422, typed
        assert words in bad.text, typed
        assert 'aria-invalid="true"' in bad.text
        assert "10000" not in bad.text  # in the percent typed, not in basis points
    client.cookies.set("qs_lang", "en")
    english = client.post("/finance/ltv-limits", data={"csrf_token": csrf, "category": "G", "limit_percent": "120"})
    assert "Loan-to-value limit (%)" in english.text
    assert db.scalars(select(LtvLimit)).all() == []
    for category, percent in (("", "55"), ("G", "62.5"), ("G", "65")):  # the second for G replaces the first
        r = client.post("/finance/ltv-limits", data={"csrf_token": csrf, "category": category,
                                                    "limit_percent": percent}, follow_redirects=False)
        assert r.status_code == 303, r.text
    db.expire_all()
    assert {(row.category, row.limit_bp) for row in db.scalars(select(LtvLimit))} == {("", 5500), ("G", 6500)}
    assert len(db.scalars(select(AuditEvent).where(AuditEvent.action == "finance.ltv_limit_set")).all()) == 3
    limits = client.get("/finance/pledges").text.split('id="limits"')[1].split("</table>")[0]
    assert "65.0 %" in limits or "65 %" in limits
    # the API reads what the page set (one service)
    assert {(r["category"], r["limit_bp"]) for r in client.get("/api/v1/finance/ltv-limits").json()} == {
        ("", 5500), ("G", 6500)}
    # a loan officer of the bank (a member, not an administrator) sees the limits and sets none
    client.cookies.clear()
    officer = make.user(organisation=bank.organisation, org_role="member")
    csrf = sign_in(client, officer)
    page = client.get("/finance/pledges").text
    assert 'id="limits"' in page
    assert 'id="limit-form"' not in page
    assert "质押率上限由本行管理员设定。" in page
    refused = client.post("/finance/ltv-limits", data={"csrf_token": csrf, "category": "", "limit_percent": "50"})
    assert refused.status_code == 403
    assert "只有本行管理员可以设定本行的质押率上限。" in refused.text
    # a merchant has no limits to set
    client.cookies.clear()
    merchant = make.user(organisation=make.org(org_type="data_merchant"))
    csrf = sign_in(client, merchant)
    refused = client.post("/finance/ltv-limits", data={"csrf_token": csrf, "category": "", "limit_percent": "50"})
    assert refused.status_code == 403
    assert len(db.scalars(select(LtvLimit)).all()) == 2
