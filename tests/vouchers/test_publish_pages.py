"""The portal's forms for offerings (compute providers) and programmes (voucher administrators): a
refused form comes back with the input kept and each error beside its field, in the page's
language, nothing saved; a good one publishes through the API's services."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from qianshu.ledger import service as ledger
from qianshu.vouchers.models import Offering, Programme
from qianshu.vouchers.service import today
from tests.vouchers.conftest import World
from tests.vouchers.test_api_pages import _sign_in

ZH = {"Accept-Language": "zh"}


def _error_of(html: str, field_id: str) -> str:
    found = re.search(rf'<span class="field-error" id="{field_id}-error">([^<]*)</span>', html)
    return found.group(1) if found else ""


def test_a_provider_publishes_an_offering_and_a_bad_one_is_refused_beside_its_fields(client, db,
                                                                                      world: World) -> None:
    token = _sign_in(client, db, world.provider)
    page = client.get("/vouchers/publish")
    assert page.status_code == 200
    assert 'id="offering-form"' in page.text
    assert 'id="programme-form"' not in page.text
    before = db.scalar(select(func.count(Offering.id)))
    bad = {"csrf_token": token, "data_centre": "贵安七星湖数据中心", "division_code": "110000",
           "accelerator": "Ascend 910B",
           "card_count": "0", "card_hours_per_month": "1000", "price_fen_per_card_hour": "十二",
           "service_kind": "training", "declared_tflops": "100", "precision": "FP16"}
    for lang, word in (("zh", "卡数"), ("en", "Cards")):
        client.cookies.set("qs_lang", lang)
        refused = client.post("/vouchers/offerings", data=bad)
        assert refused.status_code == 422
        assert word in _error_of(refused.text, "f-offering-card-count")
        assert "52" in _error_of(refused.text, "f-offering-division-code")
        assert _error_of(refused.text, "f-offering-price-fen-per-card-hour")
        assert 'value="贵安七星湖数据中心"' in refused.text  # the input is kept
        assert 'aria-invalid="true"' in refused.text
        assert 'id="form-errors"' in refused.text
    assert db.scalar(select(func.count(Offering.id))) == before
    good = {**bad, "division_code": "520900", "card_count": "256", "price_fen_per_card_hour": "12.50"}
    made = client.post("/vouchers/offerings", data=good, follow_redirects=False)
    assert made.status_code == 303
    offering = db.scalars(select(Offering).order_by(Offering.id.desc())).first()
    assert (offering.provider_org_id, offering.price_fen_per_card_hour) == (world.provider.org_id, 1250)
    assert "贵安七星湖数据中心" in client.get("/vouchers").text


def test_an_administrator_creates_a_programme_and_a_refusal_names_the_field(client, db, world: World) -> None:
    token = _sign_in(client, db, world.admin)
    page = client.get("/vouchers/publish")
    assert 'id="programme-form"' in page.text
    assert 'id="offering-form"' not in page.text
    assert "/vouchers/publish" in client.get("/vouchers").text
    wallet = ledger.balance(db, ledger.wallet_of(db, world.admin.org_id))
    start = today() + timedelta(days=400)  # after the fixture's programme: no overlap
    form = {"csrf_token": token, "name_zh": "黔南州模型券", "name_en": "Qiannan model vouchers", "kind": "model",
            "budget_fen": "2,000,000", "starts_on": start.isoformat(),
            "ends_on": (start + timedelta(days=180)).isoformat(), "eligible_division": "522700",
            "eligible_sizes": ["small", "medium"], "eligible_purposes": ["industry_model_adaptation"],
            "ratio_bp": "120", "cap_company_year_fen": "200000", "cap_contract_fen": "50000",
            "face_values_fen": "10000, 50000", "voucher_valid_days": "90", "max_term_months": "12",
            "one_voucher_per_contract": "on", "provider_org_ids": [str(world.provider.org_id)]}
    client.cookies.set("qs_lang", "en")
    refused = client.post("/vouchers/programmes", data=form)
    assert refused.status_code == 422
    assert "between 0 and 100" in _error_of(refused.text, "f-programme-ratio-bp")
    unticked = client.post("/vouchers/programmes", data={k: v for k, v in form.items() if k != "provider_org_ids"})
    assert "tick at least one" in _error_of(unticked.text, "f-programme-provider-org-ids")
    assert 'value="黔南州模型券"' in refused.text
    client.cookies.set("qs_lang", "zh")
    # the service's own refusal (a cap below a face value) lands beside its field too
    capped = client.post("/vouchers/programmes", data={**form, "ratio_bp": "20", "cap_contract_fen": "20000"})
    assert capped.status_code == 422
    assert "面额" in _error_of(capped.text, "f-programme-cap-contract-fen")
    assert db.scalar(select(func.count(Programme.id))) == 1
    assert ledger.balance(db, ledger.wallet_of(db, world.admin.org_id)) == wallet  # nothing moved
    made = client.post("/vouchers/programmes", data={**form, "ratio_bp": "20"}, follow_redirects=False)
    assert made.status_code == 303
    programme = db.scalars(select(Programme).order_by(Programme.id.desc())).first()
    assert (programme.kind, programme.budget_fen, programme.ratio_bp, programme.face_values_fen) == (
        "model", 2_000_000_00, 2000, [10_000_00, 50_000_00])
    assert programme.one_voucher_per_contract
    assert not programme.require_payment_proof
    assert made.headers["location"] == f"/vouchers/programmes/{programme.id}"
    assert ledger.balance(db, ledger.wallet_of(db, world.admin.org_id)) == wallet - 2_000_000_00


def test_a_company_may_not_publish(client, db, world: World) -> None:
    token = _sign_in(client, db, world.company)
    assert client.get("/vouchers/publish").status_code == 403
    refused = client.post("/vouchers/programmes", data={"csrf_token": token, "name_zh": "x"})
    assert refused.status_code == 403
    assert "/vouchers/publish" not in client.get("/vouchers").text
