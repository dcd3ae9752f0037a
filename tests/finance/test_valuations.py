"""Valuation worksheets: the three approaches step by step, the refusals of absurd figures (each
naming its field, in both languages, changing nothing), the appraiser's own signature (verified
with the public key only), the public-log leaf, the registry's appraisal report, and the pledge's
loan-to-value computed on the latest signed valuation."""

from __future__ import annotations

import base64
from fractions import Fraction

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy import select

from qianshu.core.canonical import canonical_json
from qianshu.core.errors import PermissionDenied
from qianshu.finance import read_models, worksheet
from qianshu.finance.models import AppraiserKey, Valuation
from qianshu.registry import review
from qianshu.translog import service as log
from tests.exchange.conftest import buyer, fund, listed, merchant, operator, order  # noqa: F401 - fixtures
from tests.registry.helpers import sign_in

FIGURES = {"acquisition_fen": 100_000_000, "processing_fen": 50_000_000, "storage_fen": 10_000_000,
           "labour_fen": 30_000_000, "rights_fen": 5_000_000, "quality_fen": 5_000_000,
           "quality_factor_bp": 9000, "obsolescence_bp": 2000, "incomes_fen": [80_000_000, 90_000_000, 100_000_000],
           "share_bp": 4000, "discount_bp": 1000, "life_years": 5, "scale_bp": 10_000,
           "market_quality_bp": 10_000, "timeliness_bp": 9000, "rights_bp": 10_000, "licences_per_year": 350,
           "method": "cost"}
# the same worksheet as a person types it in the portal (yuan, percent, factors)
TYPED = {"acquisition_fen": "1,000,000", "processing_fen": "500000", "storage_fen": "100000", "labour_fen": "300000",
         "rights_fen": "50000", "quality_fen": "50000.00", "quality_factor_bp": "0.9", "obsolescence_bp": "20",
         "incomes_fen": "800000, 900000，1000000", "share_bp": "40", "discount_bp": "10", "life_years": "5",
         "scale_bp": "1", "market_quality_bp": "1", "timeliness_bp": "0.9", "rights_bp": "1",
         "licences_per_year": "350", "method": "cost"}


@pytest.fixture
def appraiser(make):  # type: ignore[no-untyped-def]
    return make.user(organisation=make.org(org_type="service_provider", name="贵州数据资产评估有限公司"))


def test_the_approaches_step_by_step() -> None:
    cost = worksheet.cost_approach(FIGURES)
    assert cost.steps[0].value_fen == 200_000_000
    assert cost.value_fen == 200_000_000 * 9 // 10 * 8 // 10  # × 0.9 × (1 − 20 %)
    income = worksheet.income_approach([80_000_000, 90_000_000, 100_000_000], 4000, 1000, 5)
    expected = sum(Fraction(v * 4, 10) / Fraction(11, 10) ** t
                   for t, v in enumerate([80_000_000, 90_000_000, 100_000_000, 100_000_000, 100_000_000], 1))
    assert income.value_fen == worksheet.fen(expected)
    assert len(income.steps) == 6  # five years and the sum
    found = [worksheet.Comparable("QS-C-1", "a", "I64", 100_000_000, "2026-10-01"),
             worksheet.Comparable("QS-C-2", "b", "I64", 300_000_000, "2026-11-01")]
    market = worksheet.market_approach(found, {"scale_bp": 10_000, "quality_bp": 10_000, "timeliness_bp": 9000,
                                               "rights_bp": 5000})
    assert market.value_fen == 90_000_000  # mean 200 万 × 0.9 × 0.5 (one licence a year, one year, undiscounted)
    # the licence prices capitalised: 200 licences a year over 5 years at 10 %, supply and demand 1.2
    licensed = worksheet.market_approach(found, {"scale_bp": 10_000, "quality_bp": 10_000, "timeliness_bp": 9000,
                                                 "supply_demand_bp": 12_000, "rights_bp": 5000}, 200, 1000, 5)
    annuity = sum(1 / Fraction(11, 10) ** t for t in range(1, 6))
    assert licensed.value_fen == worksheet.fen(Fraction(200_000_000) * Fraction(54, 100) * 200 * annuity)
    assert [s.key for s in licensed.steps[-3:]] == ["Adjusted price of one licence", "Licence income per year",
                                                    "Capitalised over the economic life"]
    assert "0.9 × 1.2 × 0.5" in licensed.steps[0].formula
    assert worksheet.market_approach([], {}).value_fen is None
    assert worksheet.deviation_bp(144_000_000, 90_000_000) == 6000


def test_a_valuation_from_worksheet_to_signed_report_and_pledge(client, db, asset, bearer, appraiser) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(appraiser)
    started = client.post("/api/v1/finance/valuations", json={"certificate_number": asset.number}, headers=headers)
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["attributes"]["scale_rows"] > 0
    assert body["attributes"]["dictionary"]
    vid = body["id"]
    # another appraiser, the bank and anonymous visitors do not see the draft
    assert client.get(f"/api/v1/finance/valuations/{vid}").status_code in (401, 404)
    assert client.get(f"/api/v1/finance/valuations/{vid}", headers=bearer(asset.bank)).status_code == 404
    assert client.get(f"/api/v1/finance/valuations/{vid}", headers=bearer(asset.holder)).status_code == 200

    filled = client.put(f"/api/v1/finance/valuations/{vid}", json=FIGURES, headers=headers)
    assert filled.status_code == 200, filled.text
    results = filled.json()["results"]
    assert results["value_fen"] == 144_000_000
    assert results["approaches"]["market"]["value_fen"] is None  # no settled contract in this industry
    assert filled.json()["flagged"] is False
    # the bank may not sign it, nor the holder
    assert client.post(f"/api/v1/finance/valuations/{vid}/sign", headers=bearer(asset.bank)).status_code in (403, 404)
    size_before = log.tree_size(db)
    signed = client.post(f"/api/v1/finance/valuations/{vid}/sign", headers=headers)
    assert signed.status_code == 200, signed.text
    report = signed.json()
    assert report["status"] == "signed"
    assert log.tree_size(db) == size_before + 1

    # the signature verifies with the public key alone (as anyone would, from the public API)
    public = client.get(f"/api/v1/finance/appraisers/{appraiser.organisation.id}/public-key").json()
    key = load_pem_public_key(public["public_key_pem"].encode())
    assert isinstance(key, Ed25519PublicKey)
    key.verify(base64.b64decode(report["signature"]), canonical_json(report["document"]))
    anyone = client.get(f"/api/v1/finance/valuations/{vid}").json()  # signed: public
    assert anyone["signature"] == report["signature"]
    # ... and it is not the exchange's key; the private key is stored encrypted
    from qianshu.core.signing import load_signer
    assert public["key_id"] != load_signer(client.app.state.settings.key_dir).key_id
    row = db.get(AppraiserKey, appraiser.organisation.id)
    assert "ENCRYPTED PRIVATE KEY" in row.private_key_pem
    # a leaf of the public log, and an appraisal report on the registration
    leaf = log.get_leaf(db, report["log_index"])
    assert leaf.event_type == "finance.valuation.signed"
    assert [r.kind for r in review.reports(db, asset.registration_id)] == ["appraisal"]
    # a signed valuation cannot change
    assert client.put(f"/api/v1/finance/valuations/{vid}", json=FIGURES, headers=headers).status_code == 409

    # the bank's pledge is checked against it, whatever the bank types as value
    pledge = {"certificate_number": asset.number, "pledgor_org_id": asset.holder.organisation.id,
              "secured_fen": 80_000_000, "appraised_fen": 9_000_000_000, "interest_bp": 400, "term_months": 12}
    too_much = client.post("/api/v1/finance/pledges", json=pledge, headers=bearer(asset.bank))
    assert too_much.status_code == 422
    assert too_much.json()["field"] == "secured_fen"
    made = client.post("/api/v1/finance/pledges", json=pledge | {"secured_fen": 70_000_000}, headers=bearer(asset.bank))
    assert made.status_code == 201, made.text
    assert (made.json()["value_source"], made.json()["appraised_fen"], made.json()["valuation_id"]) == (
        "valuation", 144_000_000, vid)


def test_absurd_figures_are_refused_by_field(client, db, asset, bearer, appraiser) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(appraiser)
    vid = client.post("/api/v1/finance/valuations", json={"certificate_number": asset.number},
                      headers=headers).json()["id"]
    for change, field in (({"discount_bp": 50_000}, "discount_bp"), ({"acquisition_fen": -1}, "acquisition_fen"),
                          ({"incomes_fen": [1, 2, 3, 4, 5, 6]}, "incomes_fen"), ({"method": "market"}, "method"),
                          # a quality factor of 0 would value any data at nothing: below 0.1 is a typing mistake
                          ({"quality_factor_bp": 0}, "quality_factor_bp"),
                          ({"quality_factor_bp": 999}, "quality_factor_bp")):
        r = client.put(f"/api/v1/finance/valuations/{vid}", json=FIGURES | change, headers=headers)
        assert r.status_code == 422, (change, r.text)
        assert r.json().get("field") == field, r.json()
    missing = {k: v for k, v in FIGURES.items() if k != "share_bp"}
    assert client.put(f"/api/v1/finance/valuations/{vid}", json=missing, headers=headers).json()["field"] == "share_bp"
    db.expire_all()
    assert db.get(Valuation, vid).inputs == {}  # nothing changed
    assert client.post(f"/api/v1/finance/valuations/{vid}/sign", headers=headers).status_code == 422  # empty


def test_the_worksheet_in_the_portal_in_both_languages(client, db, asset, appraiser) -> None:  # type: ignore[no-untyped-def]
    csrf = sign_in(client, appraiser)
    assert client.get("/finance/valuations").status_code == 200
    bad = client.post("/finance/valuations", data={"csrf_token": csrf, "certificate_number": "nonsense"})
    assert bad.status_code == 422
    assert "QS-DR-YYYY-NNNNNN" in bad.text
    r = client.post("/finance/valuations", data={"csrf_token": csrf, "certificate_number": asset.number},
                    follow_redirects=False)
    assert r.status_code == 303
    url = r.headers["location"]
    page = client.get(url)
    assert page.status_code == 200
    assert "信息属性" in page.text
    assert 'id="recompute"' in page.text
    # the attributes in the page's language: the Chinese name alone, the frequency in words
    attributes = page.text.split('id="attributes"')[1].split("</table>")[0]
    assert "贵阳市居民样本数据" in attributes
    assert "Guiyang residents sample" not in attributes
    assert "每月" in attributes
    assert "monthly" not in attributes
    # the data dictionary names each column's type in Chinese, not the profile's English key
    types = [t.split("</span>")[0] for t in attributes.split('class="column-type">')[1:]]
    assert types
    assert set(types) <= {"整数", "小数", "日期", "日期时间", "布尔值", "文本", "文本（多为数字）", "文本（多为日期）",
                          "其他"}, types
    assert "整数" in types
    assert "文本" in types
    assert "integer" not in attributes
    assert "(text" not in attributes
    # absurd, negative and missing figures: every one named beside its field, in Chinese, nothing stored
    wrong = TYPED | {"discount_bp": "500", "acquisition_fen": "-5", "share_bp": ""}
    refused = client.post(url, data=wrong | {"csrf_token": csrf})
    assert refused.status_code == 422
    assert "折现率" in refused.text
    assert "不能为负" in refused.text
    assert "必填" in refused.text
    assert refused.text.count('aria-invalid="true"') == 3
    assert 'value="-5"' in refused.text  # the input is kept as typed
    client.cookies.set("qs_lang", "en")
    english = client.post(url, data=wrong | {"csrf_token": csrf})
    assert "Discount rate (%) must lie between 0.01 % and 50 %." in english.text
    client.cookies.set("qs_lang", "zh")
    db.expire_all()
    assert db.scalars(select(Valuation)).one().inputs == {}
    saved = client.post(url, data=TYPED | {"csrf_token": csrf}, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    page = client.get(url)
    assert "1,440,000" in page.text
    assert 'id="steps-income"' in page.text
    assert 'id="sign-form"' in page.text
    assert 'value="0.9"' in page.text  # shown back in the units typed
    signed = client.post(url + "/sign", data={"csrf_token": csrf}, follow_redirects=False)
    assert signed.status_code == 303
    assert "签名验证通过" in client.get(url).text
    client.cookies.set("qs_lang", "en")
    page = client.get(url)
    assert "The signature verifies." in page.text
    assert "Replacement cost" in page.text
    attributes = page.text.split('id="attributes"')[1].split("</table>")[0]
    assert '<span lang="en">Guiyang residents sample</span>' in attributes
    assert 'class="column-type">Integer</span>' in attributes  # the registry's column type, a label
    assert "整数" not in attributes
    assert "贵阳市居民样本数据" not in attributes
    lookup = client.get(f"/finance/lookup?number={asset.number}")
    assert 'id="latest-valuation"' in lookup.text


def test_the_market_approach_takes_settled_contracts_of_the_industry(  # type: ignore[no-untyped-def]
        client, db, asset, bearer, appraiser, buyer, merchant, listed, order, fund) -> None:  # noqa: F811
    from qianshu.exchange import contracts as exchange_contracts
    from qianshu.exchange import orders as exchange_orders
    from qianshu.exchange import payments

    product = listed(merchant, industry_code="I64", number="QS-DR-2026-900001")  # the asset's industry
    contract = exchange_orders.accept_order(db, merchant, order(product).id)
    exchange_contracts.sign(db, buyer, contract.id)
    exchange_contracts.sign(db, merchant, contract.id)
    fund(buyer, 200_000)
    payments.pay(db, buyer, contract.id)
    payments.deliver(db, merchant, contract.id)
    payments.accept_delivery(db, buyer, contract.id)
    other = listed(merchant, industry_code="A01", number="QS-DR-2026-900002")  # another industry: not taken
    unsettled = exchange_orders.accept_order(db, merchant, order(other).id)
    assert unsettled.payment_status == "unpaid"
    db.flush()

    headers = bearer(appraiser)
    vid = client.post("/api/v1/finance/valuations", json={"certificate_number": asset.number},
                      headers=headers).json()["id"]
    filled = client.put(f"/api/v1/finance/valuations/{vid}", json=FIGURES, headers=headers).json()
    market = filled["results"]["approaches"]["market"]
    assert [c["number"] for c in filled["results"]["comparables"]] == [contract.number]
    # like with like: the licence price (× timeliness 0.9) × 350 licences a year, capitalised over 5 years at 10 %
    assert market["value_fen"] == worksheet.fen(Fraction(contract.price_fen) * Fraction(9, 10) * 350
                                                * worksheet.annuity_factor(1000, 5))
    basis = filled["results"]["market_basis"]
    assert (basis["timeliness_bp"], basis["supply_demand_bp"], basis["licences_per_year"], basis["life_years"]) == (
        9000, 10_000, 350, 5)
    # an ordinary valuation: the cost approach's 144 万 agrees with the market's evidence (within the band)
    assert filled["flagged"] is False
    assert filled["deviation_bp"] < filled["results"]["tolerance_bp"]
    # an outlier (a mistyped acquisition cost of 1,000 万) lies far from it: flagged
    outlier = client.put(f"/api/v1/finance/valuations/{vid}", json=FIGURES | {"acquisition_fen": 1_000_000_000},
                         headers=headers).json()
    assert outlier["flagged"] is True
    assert outlier["deviation_bp"] > 5000
    sign_in(client, appraiser)
    page = client.get(f"/finance/valuations/{vid}").text
    assert 'id="market-basis"' in page
    assert "供求修正系数" in page
    assert 'id="reasonableness" role="alert"' in page
    assert "市场法：" in page
    assert "评估结论价值：" in page
    listing = client.get("/finance/valuations").text
    assert f'id="check-{vid}"><span class="error">' in listing
    client.cookies.clear()
    on_market = client.put(f"/api/v1/finance/valuations/{vid}", json=FIGURES | {"method": "market"}, headers=headers)
    assert on_market.json()["flagged"] is False
    assert on_market.json()["value_fen"] == market["value_fen"]


def test_a_valuation_below_the_limit_alerts_the_pledgee(client, db, asset, bearer, appraiser) -> None:  # type: ignore[no-untyped-def]
    from qianshu.core.inbox import Notification

    pledge = {"certificate_number": asset.number, "pledgor_org_id": asset.holder.organisation.id,
              "secured_fen": 800_000_000, "appraised_fen": 2_000_000_000, "interest_bp": 400, "term_months": 12}
    made = client.post("/api/v1/finance/pledges", json=pledge, headers=bearer(asset.bank)).json()
    assert made["value_source"] == "entered"
    headers = bearer(appraiser)
    vid = client.post("/api/v1/finance/valuations", json={"certificate_number": asset.number},
                      headers=headers).json()["id"]
    client.put(f"/api/v1/finance/valuations/{vid}", json=FIGURES, headers=headers)
    assert client.post(f"/api/v1/finance/valuations/{vid}/sign", headers=headers).status_code == 200
    alerts = db.scalars(select(Notification).where(Notification.org_id == asset.bank.organisation.id,
                                                   Notification.capability == "finance")).all()
    assert len(alerts) == 1
    assert alerts[0].params["ltv"] == "555.6"  # 800 万 over 144 万
    sign_in(client, asset.bank)
    book = client.get("/finance/pledges")
    assert f'id="current-ltv-{made["id"]}"' in book.text
    assert "超过上限" in book.text


def test_the_worksheets_read_model_offers_the_start_form_to_an_appraiser(db, make, appraiser) -> None:  # type: ignore[no-untyped-def]
    view = read_models.valuations(db, make.actor(appraiser))
    assert (view.valuations, view.may_start) == ([], True)
    bank = make.actor(make.user(organisation=make.org(org_type="bank")))
    with pytest.raises(PermissionDenied):  # not an appraiser: no list of worksheets at all
        read_models.valuations(db, bank)
