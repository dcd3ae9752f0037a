"""The accounting pack (MoF interim provisions on enterprise data resources): costs from the
holder's entries and the exchange's ledger, the proposed classification with its reasons,
straight-line amortisation, impairment and write-down on the latest signed valuation, restrictions
by pledges, the disclosure tables, and the XLSX, PDF and CSV exports. Every figure is computed by
hand in the comments."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from qianshu.core.errors import PermissionDenied
from qianshu.exchange import contracts as exchange_contracts
from qianshu.exchange import orders as exchange_orders
from qianshu.exchange import payments
from qianshu.finance import accounting, accounting_export, read_models, schemas
from qianshu.finance.accounting import amortised
from tests.catalog.conftest import make_listed
from tests.exchange.conftest import buyer, fund, operator, order  # noqa: F401 - fixtures
from tests.registry.helpers import sign_in

ISSUED = dt.datetime(2025, 3, 15, 2, 0, tzinfo=dt.UTC)  # 2025-03-15 10:00 in Shanghai: ready for use
AS_OF = dt.date(2026, 3, 31)
COSTS = [("acquisition", 120_000_000, dt.date(2025, 2, 1)),   # capitalised
         ("processing", 30_000_000, dt.date(2025, 3, 1)),     # capitalised
         ("quality", 6_000_000, dt.date(2025, 3, 15)),        # capitalised: the day it was ready
         ("appraisal", 5_000_000, dt.date(2025, 3, 10)),      # expensed: not a cost of bringing it to use
         ("storage", 1_200_000, dt.date(2025, 6, 1)),         # expensed: after it was ready
         ("labour", 9_900_000, dt.date(2026, 5, 1))]          # after the date of the pack: not in it


@pytest.fixture
def holder(make):  # type: ignore[no-untyped-def]
    return make.user(organisation=make.org(org_type="data_merchant", name="贵州数据宝网络科技有限公司"))


@pytest.fixture
def booked(db, make, holder, operator):  # type: ignore[no-untyped-def]  # noqa: F811
    actor = make.actor(holder)
    product = make_listed(db, actor, operator, issued_at=ISSUED, source="purchased", industry_code="G54",
                          rights=["holding", "processing_use"], row_count=250_000, column_count=12)
    for category, fen, day in COSTS:
        accounting.add_cost(db, actor, schemas.AssetCostIn(registration_id=product.registration_id, category=category,
                                                           amount_fen=fen, incurred_on=day, note=category))
    return actor, product


def test_amortisation_by_hand() -> None:
    # 1 560 000.00 yuan over 60 months from March 2025, the month counted: 13 months to March 2026
    assert amortised(156_000_000, 60, dt.date(2025, 3, 15), dt.date(2026, 3, 31)) == (13, 33_800_000)
    assert amortised(156_000_000, 60, dt.date(2025, 3, 15), dt.date(2025, 12, 31)) == (10, 26_000_000)
    assert amortised(156_000_000, 60, dt.date(2025, 3, 15), dt.date(2025, 2, 28)) == (0, 0)
    assert amortised(100, 3, dt.date(2025, 1, 1), dt.date(2030, 1, 1)) == (3, 100)  # never beyond the cost
    assert amortised(100, 3, dt.date(2025, 1, 1), dt.date(2025, 1, 31)) == (1, 33)  # rounded down


def test_an_intangible_asset_from_the_holders_costs_and_the_ledger(  # type: ignore[no-untyped-def]
        db, booked, buyer, order, fund) -> None:  # noqa: F811
    actor, product = booked
    at = dt.datetime(2026, 2, 2, 2, 0, tzinfo=dt.UTC)  # settled before the date of the pack
    contract = exchange_orders.accept_order(db, actor, order(product).id, at=at)  # 1 200 yuan, one time
    exchange_contracts.sign(db, buyer, contract.id, at=at)
    exchange_contracts.sign(db, actor, contract.id, at=at)
    fund(buyer, 200_000)
    payments.pay(db, buyer, contract.id, at=at)
    payments.deliver(db, actor, contract.id, at=at)
    payments.accept_delivery(db, buyer, contract.id, at=at)
    db.flush()
    pack = accounting.pack(db, actor, AS_OF)
    [asset] = pack.assets
    assert (asset.classification, asset.acquisition) == ("intangible", "purchased")
    assert asset.ready_on == dt.date(2025, 3, 15)
    # capitalised 120 万 + 30 万 + 6 万 = 156 万; expensed 5 万 + 1.2 万 + the fee 2.5 % × 1 200 = 30 yuan
    assert asset.cost_fen == 156_000_000
    assert asset.expensed_fen == 5_000_000 + 1_200_000 + 3_000
    assert [c.category for c in asset.costs if c.source == "ledger"] == ["exchange_fee"]
    assert (asset.contracts, asset.income_fen) == (1, 120_000)
    # 13 of 60 months: 156 万 × 13/60 = 33.8 万; this year (Jan–Mar 2026) 3 months = 7.8 万
    assert (asset.months_amortised, asset.accumulated_fen, asset.period_amortisation_fen) == (13, 33_800_000,
                                                                                              7_800_000)
    assert (asset.impairment_fen, asset.book_value_fen, asset.remaining_months) == (0, 122_200_000, 47)
    assert len(asset.reasons) == 2  # intangible (CAS 6), and the contracts as evidence of benefits
    total = pack.table("intangible")[-1]
    assert (total["method"], total["count"], total["cost_fen"], total["book_value_fen"]) == (
        "total", 1, 156_000_000, 122_200_000)
    assert pack.table("intangible")[0]["book_value_fen"] == 122_200_000  # purchased
    assert pack.table("inventory")[-1]["count"] == 0


def test_inventory_with_a_write_down_and_an_asset_not_recognised(db, make, booked, operator) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from qianshu.finance.models import Valuation

    actor, product = booked
    accounting.set_choice(db, actor, schemas.AccountingChoiceIn(registration_id=product.registration_id,
                                                                intent="for_sale", useful_life_months=60))
    # a signed valuation of 144 万 (inserted as signed: the signing itself is tested in test_valuations)
    db.add(Valuation(registration_id=product.registration_id, certificate_number="QS-DR-2026-000000",
                     appraiser_org_id=actor.org_id, status="signed", value_fen=144_000_000,
                     signed_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC)))
    bare = make_listed(db, actor, operator, issued_at=ISSUED, source="own_collection")  # no cost entered
    db.flush()
    pack = accounting.pack(db, actor, AS_OF)
    by_id = {a.registration_id: a for a in pack.assets}
    stock = by_id[product.registration_id]
    # inventory: no amortisation; cost 156 万 above the valuation of 144 万: written down by 12 万
    assert (stock.classification, stock.accumulated_fen, stock.impairment_fen, stock.book_value_fen) == (
        "inventory", 0, 12_000_000, 144_000_000)
    nothing = by_id[bare.registration_id]
    assert (nothing.classification, nothing.cost_fen, nothing.book_value_fen) == ("not_recognised", 0, 0)
    assert pack.table("inventory")[-1]["book_value_fen"] == 144_000_000
    assert pack.table("intangible")[-1]["count"] == 0


def test_restrictions_name_the_pledges(db, client, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    from tests.finance.test_enforcement import _active_pledge

    holder = asset.holder
    actor = accounting_actor(holder)
    pledge_id = _active_pledge(client, asset, bearer, asset.bank)
    accounting.add_cost(db, actor, schemas.AssetCostIn(registration_id=asset.registration_id, category="collection",
                                                       amount_fen=50_000_000, incurred_on=dt.date(2025, 1, 1)))
    [found] = accounting.pack(db, actor).assets
    assert [(r["pledge_id"], r["bank"], r["secured_fen"]) for r in found.restrictions] == [
        (pledge_id, "贵阳农商银行", 400_000_000)]
    assert "贵阳农商银行" in accounting_export.restrictions_text(found, "zh")


def accounting_actor(user):  # type: ignore[no-untyped-def]
    from qianshu.accounts.service import actor_for

    return actor_for(user, via="api", ip=None)


def test_exports_in_both_languages(client, db, booked, holder, bearer) -> None:  # type: ignore[no-untyped-def]
    db.flush()
    # the enumerated values (how acquired, how classified, what a cost was, where it is recorded) as labels
    for lang, heading, title, industry, (purchased, intangible, price, entered, total_label) in (
            ("zh", "账面价值（元）", "确认为无形资产的数据资源", "道路运输业 (G54)",
             ("外购", "无形资产", "购买价款及相关税费", "持有人录入", "合计")),
            ("en", "Book value (yuan)", "Data resources recognised as intangible assets", "Road transport (G54)",
             ("Purchased", "Intangible asset", "Purchase price and taxes", "Entered by the holder", "Total"))):
        headers = {**bearer(holder), "Accept-Language": lang}
        xlsx = client.get("/api/v1/finance/accounting", params={"as_of": "2026-03-31", "format": "xlsx"},
                          headers=headers)
        assert xlsx.status_code == 200, xlsx.text
        book = load_workbook(io.BytesIO(xlsx.content))
        rows = list(book.worksheets[0].iter_rows(values_only=True))
        assert [title] in [list(r[:1]) for r in rows]
        assert heading in rows[3]
        total = next(r for r in rows if r[0] == total_label)
        assert purchased in [r[0] for r in rows]
        assert float(total[2]) == 1_560_000.00
        assert float(total[5]) == 1_222_000.00
        assets = list(book.worksheets[1].iter_rows(values_only=True))
        assert industry in assets[1]  # the nature of the asset in words, not the bare code
        costs = list(book.worksheets[2].iter_rows(values_only=True))
        assert len(costs) == 1 + 5  # the header and the five costs up to the date
        assert (purchased, intangible) == (assets[1][6], assets[1][7])
        assert (price, entered) == (costs[1][2], costs[1][5])
        pdf = client.get("/api/v1/finance/accounting", params={"as_of": "2026-03-31", "format": "pdf"},
                         headers=headers)
        assert pdf.content.startswith(b"%PDF")
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        assert "1,222,000.00" in text
        assert "78,000.00" in text  # this year's amortisation, in the PDF's tables as in the workbook's
        assert f"{purchased} · " in text
        assert intangible in text
        if lang == "en":
            assert "1 asset ·" in text
            assert "1 assets" not in text
        csv_text = client.get("/api/v1/finance/accounting", params={"as_of": "2026-03-31", "format": "csv"},
                              headers=headers).content.decode("utf-8-sig")
        assert heading in csv_text.splitlines()[0]
        assert "1,560,000.00" in csv_text
        assert f",{purchased},{intangible}," in csv_text
    as_json = client.get("/api/v1/finance/accounting", params={"as_of": "2026-03-31"}, headers=bearer(holder)).json()
    assert as_json["intangible"][-1]["book_value_fen"] == 122_200_000


def test_refusals(client, db, booked, holder, bearer, make) -> None:  # type: ignore[no-untyped-def]
    _actor, product = booked
    db.flush()
    headers = bearer(holder)
    bad_day = client.get("/api/v1/finance/accounting", params={"as_of": "31/03/2026"}, headers=headers)
    assert (bad_day.status_code, bad_day.json()["field"]) == (422, "as_of")
    body = {"registration_id": product.registration_id, "category": "processing", "amount_fen": -5,
            "incurred_on": "2025-01-01"}
    assert client.post("/api/v1/finance/accounting/costs", json=body, headers=headers).status_code == 422
    bank = make.user(organisation=make.org(org_type="bank"))
    refused = client.post("/api/v1/finance/accounting/costs", json=body | {"amount_fen": 5}, headers=bearer(bank))
    assert refused.status_code == 404  # not its registration
    other = make.user(organisation=make.org(org_type="data_merchant"))
    assert client.post("/api/v1/finance/accounting/costs", json=body | {"amount_fen": 5},
                       headers=bearer(other)).status_code == 404
    assert client.get("/api/v1/finance/accounting").status_code == 401
    assert len(accounting.pack(db, _actor, AS_OF).assets[0].costs) == 5  # nothing was added


def test_the_page_in_both_languages(client, db, booked, holder) -> None:  # type: ignore[no-untyped-def]
    _actor, product = booked
    db.commit()
    csrf = sign_in(client, holder)
    page = client.get("/finance/accounting", params={"as_of": "2026-03-31"})
    assert page.status_code == 200
    assert "确认为无形资产的数据资源" in page.text
    assert "无形资产" in page.text
    assert "1,222,000.00" in page.text
    client.cookies.set("qs_lang", "en")
    en = client.get("/finance/accounting", params={"as_of": "2026-03-31"})
    assert "Data resources recognised as intangible assets" in en.text
    added = client.post("/finance/accounting/costs", data={
        "csrf_token": csrf, "registration_id": product.registration_id, "category": "rights",
        "amount_yuan": "20,000.00", "incurred_on": "2025-03-01", "note": "确权"}, follow_redirects=False)
    assert added.status_code == 303, added.text[:300]
    refused = client.post("/finance/accounting/costs", data={
        "csrf_token": csrf, "registration_id": product.registration_id, "category": "rights",
        "amount_yuan": "lots", "incurred_on": "2025-03-01"}, follow_redirects=False)
    assert refused.status_code == 422
    cost = client.get("/finance/accounting", params={"as_of": "2026-03-31"})
    assert "1,580,000.00" in cost.text  # 156 万 + 2 万 of rights confirmation


def test_the_read_model_gives_the_pack_and_who_keeps_it(db, booked, make) -> None:  # type: ignore[no-untyped-def]
    actor, _product = booked
    view = read_models.accounting_pack(db, actor, AS_OF)
    assert view.may_keep
    assert [a.number for a in view.pack.assets] == [a.number for a in accounting.pack(db, actor, AS_OF).assets]
    stranger = make.actor(make.user(organisation=make.org(org_type="data_merchant", status="pending")))
    with pytest.raises(PermissionDenied):  # held back: neither the page nor its forms
        read_models.accounting_pack(db, stranger, AS_OF)
