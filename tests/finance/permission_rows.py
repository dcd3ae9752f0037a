"""Finance routes by role. Anyone looks a certificate up; an approved bank registers pledges and
has a portfolio; only the pledge's bank (the pledgee) amends, releases or enforces it; only the
asset's holder confirms it. The rows' pledges have the acting organisation as pledgor (when it is
not the exchange's) and as pledgee (when it is a bank), so every relation is tried."""

from __future__ import annotations

import datetime as dt
from typing import Any

from qianshu.core.actor import Actor
from qianshu.core.policy import Resource
from qianshu.core.timeutil import utcnow
from qianshu.finance.models import AppraiserKey, AssetCost, EncumberedAsset, ForcedSale, Pledge, Valuation
from qianshu.finance.permissions import pledge_resource, valuation_resource
from qianshu.registry.models import Registration
from tests.permission_support import EVERYONE, Row

PLEDGE = "pledge"
VALUATION = "valuation"
BOOKS = "books"  # the acting organisation's own data assets (the accounting pack)
FIGURES = {"acquisition_fen": 100, "processing_fen": 100, "storage_fen": 100, "labour_fen": 100, "rights_fen": 100,
           "quality_fen": 100, "quality_factor_bp": 10_000, "obsolescence_bp": 0, "incomes_fen": [100],
           "share_bp": 5000, "discount_bp": 1000, "life_years": 1, "scale_bp": 10_000, "market_quality_bp": 10_000,
           "timeliness_bp": 10_000, "rights_bp": 10_000, "licences_per_year": 1, "method": "cost"}
TYPED = {"acquisition_fen": "1", "processing_fen": "1", "storage_fen": "1", "labour_fen": "1", "rights_fen": "1",
         "quality_fen": "1", "quality_factor_bp": "1", "obsolescence_bp": "0", "incomes_fen": "1", "share_bp": "50",
         "discount_bp": "10", "life_years": "1", "scale_bp": "1", "market_quality_bp": "1", "timeliness_bp": "1",
         "rights_bp": "1", "licences_per_year": "1", "method": "cost"}


def _on(key: str) -> Any:
    return lambda c: {"pledge_id": c[key]}


def _valuation(key: str) -> Any:
    return lambda c: {"valuation_id": c[key]}


def _page(key: str, action: str) -> Any:
    return lambda c: {"pledge_id": c[key], "action": action}


ROWS = {
    ("GET", "/api/v1/finance/certificates/{number}/status"): Row(
        EVERYONE, params=lambda c: {"number": c["number"]}, action="finance.lookup"),
    ("POST", "/api/v1/finance/pledges"): Row(body=lambda c: {
        "certificate_number": c["number"], "pledgor_org_id": c["finance_holder_org"], "secured_fen": 100_00,
        "appraised_fen": 10_000_00, "interest_bp": 400, "term_months": 6}, action="finance.pledge.create"),
    ("GET", "/api/v1/finance/pledges"): Row(action="finance.portfolio"),
    ("GET", "/api/v1/finance/ltv-limits"): Row(action="finance.portfolio"),
    ("PUT", "/api/v1/finance/ltv-limits"): Row(body=lambda c: {"category": "I", "limit_bp": 6000},
                                               action="finance.ltv.set"),
    ("POST", "/api/v1/finance/pledges/{pledge_id}/confirm"): Row(params=_on("p_api_confirm"),
                                                                 action="finance.pledge.confirm", on=PLEDGE),
    ("POST", "/api/v1/finance/pledges/{pledge_id}/amend"): Row(params=_on("p_api_amend"), body=lambda c: {
        "interest_bp": 380}, action="finance.pledge.manage", on=PLEDGE),
    ("POST", "/api/v1/finance/pledges/{pledge_id}/release"): Row(params=_on("p_api_release"), body=lambda c: {},
                                                                 action="finance.pledge.manage", on=PLEDGE),
    ("POST", "/api/v1/finance/pledges/{pledge_id}/enforce"): Row(params=_on("p_api_enforce"), body=lambda c: {
        "reason": "逾期"}, action="finance.pledge.manage", on=PLEDGE),
    ("GET", "/finance/lookup"): Row(EVERYONE, query="?number=QS-DR-2026-000001", action="finance.lookup"),
    ("GET", "/finance/pledges"): Row(action="finance.portfolio"),
    ("POST", "/finance/ltv-limits"): Row(body=lambda c: {"category": "I", "limit_percent": "60"},
                                         action="finance.ltv.set"),
    ("POST", "/finance/pledges"): Row(body=lambda c: {
        "certificate_number": c["number"], "pledgor_org_id": c["finance_holder_org"], "secured_yuan": "100",
        "appraised_yuan": "10000", "interest_percent": "4", "term_months": "6"}, action="finance.pledge.create"),
    ("POST", "/finance/pledges/{pledge_id:int}/{action}"): Row(
        params=_page("p_page_confirm", "confirm"), body=lambda c: {}, action="finance.pledge.confirm", on=PLEDGE,
        also=(Row(params=_page("p_page_release", "release"), body=lambda c: {}, action="finance.pledge.manage",
                  on=PLEDGE),
              Row(params=_page("p_page_enforce", "enforce"), body=lambda c: {"reason": "逾期"},
                  action="finance.pledge.manage", on=PLEDGE),
              Row(params=_page("p_page_withdraw", "withdraw"), body=lambda c: {}, action="finance.pledge.manage",
                  on=PLEDGE))),
    ("POST", "/api/v1/finance/pledges/{pledge_id}/amendments"): Row(
        params=_on("p_api_propose"), body=lambda c: {"interest_bp": 390},
        action="finance.pledge.manage|finance.pledge.confirm", on=PLEDGE),
    ("POST", "/api/v1/finance/pledges/{pledge_id}/amendments/decision"): Row(
        params=_on("p_api_decide"), body=lambda c: {"agree": False},
        action="finance.pledge.manage|finance.pledge.confirm", on=PLEDGE),
    ("POST", "/api/v1/finance/valuations"): Row(body=lambda c: {"certificate_number": c["number"]},
                                                action="finance.valuation.prepare"),
    ("GET", "/api/v1/finance/valuations/{valuation_id}"): Row(params=_valuation("v_read"),
                                                              action="finance.valuation.read", on=VALUATION),
    ("PUT", "/api/v1/finance/valuations/{valuation_id}"): Row(params=_valuation("v_api_put"), body=lambda c: FIGURES,
                                                              action="finance.valuation.sign", on=VALUATION),
    ("POST", "/api/v1/finance/valuations/{valuation_id}/sign"): Row(
        params=_valuation("v_api_sign"), body=lambda c: {}, action="finance.valuation.sign", on=VALUATION),
    ("GET", "/api/v1/finance/appraisers/{org_id}/public-key"): Row(
        EVERYONE, params=lambda c: {"org_id": c["appraiser_org"]}, action="finance.lookup"),
    ("GET", "/finance/valuations"): Row(action="finance.valuation.prepare"),
    ("POST", "/finance/valuations"): Row(body=lambda c: {"certificate_number": c["number"]},
                                         action="finance.valuation.prepare"),
    ("GET", "/finance/valuations/{valuation_id:int}"): Row(params=_valuation("v_read"),
                                                           action="finance.valuation.read", on=VALUATION),
    ("POST", "/finance/valuations/{valuation_id:int}"): Row(params=_valuation("v_page_put"), body=lambda c: TYPED,
                                                            action="finance.valuation.sign", on=VALUATION),
    ("POST", "/finance/valuations/{valuation_id:int}/sign"): Row(
        params=_valuation("v_page_sign"), body=lambda c: {}, action="finance.valuation.sign", on=VALUATION),
    # the accounting pack: the acting organisation's own issued registration and one entered cost
    ("GET", "/api/v1/finance/accounting"): Row(action="finance.accounting", on=BOOKS),
    ("POST", "/api/v1/finance/accounting/costs"): Row(body=lambda c: {
        "registration_id": c["books_reg"], "category": "processing", "amount_fen": 100_00,
        "incurred_on": "2025-01-01"}, action="finance.accounting", on=BOOKS),
    ("DELETE", "/api/v1/finance/accounting/costs/{cost_id}"): Row(
        params=lambda c: {"cost_id": c["cost_api"]}, action="finance.accounting", on=BOOKS),
    ("PUT", "/api/v1/finance/accounting/choices"): Row(body=lambda c: {
        "registration_id": c["books_reg"], "intent": "for_sale", "useful_life_months": 36},
        action="finance.accounting", on=BOOKS),
    ("GET", "/finance/accounting"): Row(action="finance.accounting", on=BOOKS),
    ("GET", "/finance/accounting/export.{fmt}"): Row(params=lambda c: {"fmt": "xlsx"}, action="finance.accounting",
                                                     on=BOOKS),
    ("POST", "/finance/accounting/costs"): Row(body=lambda c: {
        "registration_id": str(c["books_reg"]), "category": "processing", "amount_yuan": "100",
        "incurred_on": "2025-01-01"}, action="finance.accounting", on=BOOKS),
    ("POST", "/finance/accounting/costs/{cost_id:int}/remove"): Row(
        params=lambda c: {"cost_id": c["cost_page"]}, body=lambda c: {}, action="finance.accounting", on=BOOKS),
    ("POST", "/finance/accounting/choices"): Row(body=lambda c: {
        "registration_id": str(c["books_reg"]), "intent": "own_use", "useful_life_months": "60"},
        action="finance.accounting", on=BOOKS),
    # forced sales: anyone sees them; an approved organisation buys (without funds: 422, or the
    # holder's and the bank's own sale: 409, neither a refusal of the policy)
    ("GET", "/api/v1/finance/forced-sales"): Row(EVERYONE, action="finance.lookup"),
    ("POST", "/api/v1/finance/forced-sales/{sale_id}/buy"): Row(params=lambda c: {"sale_id": c["sale"]},
                                                                action="finance.sale.buy"),
    # the pledgee withdraws its offer before anyone buys
    ("POST", "/api/v1/finance/forced-sales/{sale_id}/withdraw"): Row(
        params=lambda c: {"sale_id": c["sale_api_withdraw"]}, body=lambda c: {}, action="finance.pledge.manage",
        on=PLEDGE),
    ("GET", "/finance/sales"): Row(EVERYONE, action="finance.lookup"),
    # an auction: anyone sees it and its bids; an approved organisation bids (the holder and the
    # bank: 409; without funds: 422, neither a refusal of the policy)
    ("GET", "/api/v1/finance/forced-sales/{sale_id}"): Row(EVERYONE, params=lambda c: {"sale_id": c["auction"]},
                                                           action="finance.lookup"),
    ("POST", "/api/v1/finance/forced-sales/{sale_id}/bids"): Row(
        params=lambda c: {"sale_id": c["auction"]}, body=lambda c: {"amount_fen": 100_00}, action="finance.sale.buy"),
    ("GET", "/finance/sales/{sale_id:int}"): Row(EVERYONE, params=lambda c: {"sale_id": c["auction"]},
                                                 action="finance.lookup"),
    ("POST", "/finance/sales/{sale_id:int}/bid"): Row(params=lambda c: {"sale_id": c["auction"]},
                                                      body=lambda c: {"amount_yuan": "100"}, action="finance.sale.buy"),
    ("POST", "/finance/sales/{sale_id:int}/buy"): Row(params=lambda c: {"sale_id": c["sale"]}, body=lambda c: {},
                                                      action="finance.sale.buy"),
}


def setup(ctx: dict[str, Any], db: Any, make: Any, actor: Actor | None, env: dict[str, Any]) -> None:
    reg = db.get_one(Registration, ctx["issued"])  # the registry's rows issued it
    ctx["finance_holder_org"] = reg.holder_org_id
    acting_org = actor.org_id if actor is not None and not actor.is_staff else None
    pledgor = acting_org or reg.holder_org_id
    pledgee = acting_org if actor is not None and actor.org_type == "bank" else make.org(org_type="bank").id
    if db.get(EncumberedAsset, reg.id) is None:
        db.add(EncumberedAsset(registration_id=reg.id, certificate_number=ctx["number"]))
    today = dt.date.today()
    for key, status in (("p_api_confirm", "pending"), ("p_api_amend", "active"), ("p_api_release", "active"),
                        ("p_api_enforce", "active"), ("p_api_propose", "active"), ("p_api_decide", "active"),
                        ("p_page_confirm", "pending"), ("p_page_release", "active"),
                        ("p_page_enforce", "active"), ("p_sale", "active"), ("p_api_withdraw", "active"),
                        ("p_page_withdraw", "active"), ("p_auction", "active")):
        pledge = Pledge(registration_id=reg.id, certificate_number=ctx["number"], pledgee_org_id=pledgee,
                        pledgor_org_id=pledgor, status=status, secured_fen=100_00, appraised_fen=10_000_00,
                        ltv_limit_bp=5000, interest_bp=400, term_months=6, starts_on=today,
                        matures_on=today + dt.timedelta(days=180))
        if key in ("p_sale", "p_api_withdraw", "p_page_withdraw", "p_auction"):
            pledge.status = "selling"
        if key == "p_api_decide":
            pledge.proposed_amendment = {"changes": {"interest_bp": 390}, "by": "nobody", "reason": ""}
        db.add(pledge)
        db.flush()
        ctx[key] = pledge.id
    ctx["res"][PLEDGE] = pledge_resource(pledgor, pledgee)
    sale = ForcedSale(pledge_id=ctx["p_sale"], registration_id=reg.id, certificate_number=ctx["number"],
                      pledgee_org_id=pledgee, pledgor_org_id=pledgor, price_fen=100_00, reason="逾期")
    db.add(sale)
    auction = ForcedSale(pledge_id=ctx["p_auction"], registration_id=reg.id, certificate_number=ctx["number"],
                         pledgee_org_id=pledgee, pledgor_org_id=pledgor, price_fen=100_00, reason="逾期",
                         closes_at=utcnow() + dt.timedelta(days=7), step_fen=100)
    db.add(auction)
    db.flush()
    ctx["auction"] = auction.id
    for key in ("p_api_withdraw", "p_page_withdraw"):  # offers their pledgee withdraws
        offer = ForcedSale(pledge_id=ctx[key], registration_id=reg.id, certificate_number=ctx["number"],
                           pledgee_org_id=pledgee, pledgor_org_id=pledgor, price_fen=100_00, reason="逾期")
        db.add(offer)
        db.flush()
        ctx[f"sale_{key[2:]}"] = offer.id
    # the accounting pack: an issued registration of the acting organisation (or of the holder)
    books_org = actor.org_id if actor is not None and actor.org_id is not None else reg.holder_org_id
    own = Registration(holder_org_id=books_org, status="issued", number=f"QS-DR-2025-{900000 + books_org:06d}",
                       title_zh="会计测试数据", title_en="Books test data", industry_code="I64", issued_at=utcnow(),
                       source="purchased", rights=["holding"])
    db.add(own)
    db.flush()
    ctx["sale"], ctx["books_reg"] = sale.id, own.id
    for key in ("cost_api", "cost_page"):
        cost = AssetCost(registration_id=own.id, org_id=books_org, category="processing", amount_fen=100_00,
                         incurred_on=today)
        db.add(cost)
        db.flush()
        ctx[key] = cost.id
    ctx["res"][BOOKS] = Resource(org_id=books_org)
    # valuations: the acting organisation is the appraiser when it is a service provider
    appraiser = (acting_org if actor is not None and actor.org_type == "service_provider"
                 else make.org(org_type="service_provider").id)
    ctx["appraiser_org"] = appraiser
    if db.get(AppraiserKey, appraiser) is None:
        db.add(AppraiserKey(org_id=appraiser, key_id=f"test-{appraiser}", public_key_pem="-", private_key_pem="-"))
    for key in ("v_read", "v_api_put", "v_api_sign", "v_page_put", "v_page_sign"):
        valuation = Valuation(registration_id=reg.id, certificate_number=ctx["number"], appraiser_org_id=appraiser,
                              attributes={"industry_code": reg.industry_code}, inputs={}, results={})
        db.add(valuation)
        db.flush()
        ctx[key] = valuation.id
    ctx["res"][VALUATION] = valuation_resource(appraiser, reg.holder_org_id, False)
