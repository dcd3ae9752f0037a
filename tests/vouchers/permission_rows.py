"""Voucher routes by role. Anyone sees the directory, the programmes and the dashboard; approved
compute providers publish offerings; approved voucher administrators create programmes and manage
their own; approved companies apply and order; an order is seen by its company, its provider and
the programme's administrator, and only its provider reports usage and claims. The rows' objects
have the acting organisation in every role it can hold (administrator, company, provider)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from qianshu.core.actor import Actor
from qianshu.vouchers.models import Application, ComputeOrder, Offering, Programme, Reimbursement
from qianshu.vouchers.permissions import COMPANY_TYPES, order_resource, programme_resource
from tests.permission_support import EVERYONE, Row

PROGRAMME, ORDER = "voucher_programme", "voucher_order"


def _programme(c: dict[str, Any]) -> dict[str, Any]:
    return {"programme_id": c["v_programme"]}


def _order_body(c: dict[str, Any]) -> dict[str, Any]:
    # the setup's offering, by its id: on PostgreSQL ids are not reused between tests
    return {"offering_id": c["v_offering"], "card_hours": 10, "month": dt.date.today().strftime("%Y-%m"),
            "purpose": "large_model_training"}
PROGRAMME_BODY = {"name_zh": "测试券", "budget_fen": 100, "starts_on": "2030-01-01", "ends_on": "2030-06-30",
                  "ratio_bp": 3000, "cap_company_year_fen": 100, "cap_contract_fen": 100, "face_values_fen": [100],
                  "voucher_valid_days": 30, "max_term_months": 6, "provider_org_ids": [1]}
OFFERING_BODY = {"data_centre": "贵安数据中心", "division_code": "520900", "accelerator": "A", "card_count": 1,
                 "card_hours_per_month": 100, "price_fen_per_card_hour": 100, "service_kind": "training",
                 "declared_tflops": 1, "precision": "FP16"}
APPLY_BODY = {"purpose": "large_model_training", "company_size": "small", "planned_use": "训练大模型",
              "requested_fen": 100}
EVIDENCE = "YQ=="

ROWS = {
    ("GET", "/api/v1/vouchers/directory"): Row(EVERYONE, action="vouchers.directory"),
    ("POST", "/api/v1/vouchers/offerings"): Row(body=lambda c: OFFERING_BODY, action="vouchers.offering.publish"),
    ("GET", "/api/v1/vouchers/programmes"): Row(EVERYONE, action="vouchers.directory"),
    ("POST", "/api/v1/vouchers/programmes"): Row(body=lambda c: PROGRAMME_BODY, action="vouchers.programme.create"),
    ("GET", "/api/v1/vouchers/programmes/{programme_id}"): Row(EVERYONE, params=_programme,
                                                               action="vouchers.directory"),
    ("POST", "/api/v1/vouchers/programmes/{programme_id}/applications"): Row(
        params=_programme, body=lambda c: APPLY_BODY, action="vouchers.apply"),
    ("GET", "/api/v1/vouchers/programmes/{programme_id}/applications"): Row(
        params=_programme, action="vouchers.programme.manage", on=PROGRAMME),
    ("POST", "/api/v1/vouchers/applications/{application_id}/decision"): Row(
        params=lambda c: {"application_id": c["v_application_api"]}, body=lambda c: {"approve": False, "reason": "x"},
        action="vouchers.programme.manage", on=PROGRAMME),
    ("POST", "/api/v1/vouchers/programmes/{programme_id}/related-parties"): Row(
        params=_programme, body=lambda c: {"org_a_id": c["v_company"], "org_b_id": c["v_provider"]},
        action="vouchers.programme.manage", on=PROGRAMME),
    ("POST", "/api/v1/vouchers/programmes/{programme_id}/related-parties/unmark"): Row(
        params=_programme, body=lambda c: {"org_a_id": c["v_company"], "org_b_id": c["v_provider"], "reason": "xx"},
        action="vouchers.programme.manage", on=PROGRAMME),
    ("POST", "/api/v1/vouchers/programmes/{programme_id}/broken-trust"): Row(
        params=_programme, body=lambda c: {"org_id": c["v_company"], "source": "信用中国", "reason": "xx"},
        action="vouchers.programme.manage", on=PROGRAMME),
    ("POST", "/api/v1/vouchers/programmes/{programme_id}/broken-trust/lift"): Row(
        params=_programme, body=lambda c: {"org_id": c["v_company"], "reason": "xx"},
        action="vouchers.programme.manage", on=PROGRAMME),
    ("GET", "/api/v1/vouchers/programmes/{programme_id}/organisations"): Row(
        params=_programme, query="?q=贵", action="vouchers.programme.manage", on=PROGRAMME),
    ("GET", "/api/v1/vouchers/programmes/{programme_id}/trust-records"): Row(
        params=_programme, action="vouchers.programme.manage", on=PROGRAMME),
    ("GET", "/vouchers/programmes/{programme_id:int}/trust"): Row(
        params=_programme, action="vouchers.programme.manage", on=PROGRAMME),
    ("GET", "/vouchers/programmes/{programme_id:int}/organisations"): Row(
        params=_programme, query="?q=贵", action="vouchers.programme.manage", on=PROGRAMME),
    ("POST", "/vouchers/programmes/{programme_id:int}/related"): Row(
        params=_programme, body=lambda c: {"org_a_id": "x", "org_b_id": "y"}, action="vouchers.programme.manage",
        on=PROGRAMME),
    ("POST", "/vouchers/programmes/{programme_id:int}/related/{org_a_id:int}/{org_b_id:int}/unmark"): Row(
        params=lambda c: {**_programme(c), "org_a_id": c["v_company"], "org_b_id": c["v_provider"]},
        body=lambda c: {"reason": "xx"}, action="vouchers.programme.manage", on=PROGRAMME),
    ("POST", "/vouchers/programmes/{programme_id:int}/broken-trust"): Row(
        params=_programme, body=lambda c: {"org_id": "x", "source": "信用中国", "reason": "xx"},
        action="vouchers.programme.manage", on=PROGRAMME),
    ("POST", "/vouchers/programmes/{programme_id:int}/broken-trust/{org_id:int}/lift"): Row(
        params=lambda c: {**_programme(c), "org_id": c["v_company"]}, body=lambda c: {"reason": "xx"},
        action="vouchers.programme.manage", on=PROGRAMME),
    ("GET", "/api/v1/vouchers/vouchers"): Row(action="vouchers.mine"),
    ("POST", "/api/v1/vouchers/programmes/{programme_id}/orders"): Row(
        params=_programme, body=_order_body, action="vouchers.apply"),
    ("POST", "/api/v1/vouchers/programmes/{programme_id}/contract-payments"): Row(
        params=_programme, body=lambda c: {"contract_id": 1, "voucher_ids": [1]}, action="vouchers.apply"),
    ("GET", "/api/v1/vouchers/orders"): Row(action="vouchers.mine"),
    ("GET", "/api/v1/vouchers/orders/{order_id}"): Row(params=lambda c: {"order_id": c["v_order"]},
                                                       action="vouchers.order.read", on=ORDER),
    ("POST", "/api/v1/vouchers/orders/{order_id}/usage"): Row(
        params=lambda c: {"order_id": c["v_order"]},
        body=lambda c: {"used_card_hours": 1, "evidence_name": "m", "evidence_base64": EVIDENCE},
        action="vouchers.order.deliver", on=ORDER),
    ("POST", "/api/v1/vouchers/orders/{order_id}/reimbursement"): Row(
        params=lambda c: {"order_id": c["v_order"]},
        body=lambda c: {"invoice_number": "52000001", "delivery_proof_base64": EVIDENCE},
        action="vouchers.order.deliver", on=ORDER),
    ("GET", "/api/v1/vouchers/programmes/{programme_id}/claims"): Row(
        params=_programme, action="vouchers.programme.manage", on=PROGRAMME),
    ("POST", "/api/v1/vouchers/claims/{claim_id}/decision"): Row(
        params=lambda c: {"claim_id": c["v_claim_api"]}, body=lambda c: {"approve": False, "reason": "x"},
        action="vouchers.programme.manage", on=PROGRAMME),
    ("GET", "/api/v1/vouchers/dashboard"): Row(EVERYONE, action="vouchers.directory"),
    ("GET", "/vouchers"): Row(EVERYONE, action="vouchers.directory"),
    ("GET", "/vouchers/dashboard"): Row(EVERYONE, action="vouchers.directory"),
    ("GET", "/vouchers/dashboard/{series}.csv"): Row(EVERYONE, params=lambda c: {"series": "by_month"},
                                                     action="vouchers.directory"),
    ("GET", "/vouchers/programmes/{programme_id:int}"): Row(EVERYONE, params=_programme,
                                                            action="vouchers.directory"),
    ("POST", "/vouchers/programmes/{programme_id:int}/apply"): Row(
        params=_programme, body=lambda c: {**APPLY_BODY, "requested_yuan": "1"}, action="vouchers.apply"),
    ("POST", "/vouchers/applications/{application_id:int}/decide"): Row(
        params=lambda c: {"application_id": c["v_application_page"]}, body=lambda c: {"decision": "reject",
                                                                                      "reason": "x"},
        action="vouchers.programme.manage", on=PROGRAMME),
    ("POST", "/vouchers/programmes/{programme_id:int}/order"): Row(
        params=_programme, body=_order_body, action="vouchers.apply"),
    ("POST", "/vouchers/programmes/{programme_id:int}/contracts/{contract_id:int}/pay"): Row(
        params=lambda c: {**_programme(c), "contract_id": c["other_contract"]}, body=lambda c: {"voucher_ids": "1"},
        action=("vouchers.apply", "contract.pay"), on="other_contract"),
    ("GET", "/vouchers/programmes/{programme_id:int}/contracts/{contract_id:int}/split"): Row(
        params=lambda c: {**_programme(c), "contract_id": c["other_contract"]},
        action=("vouchers.apply", "contract.pay"), on="other_contract"),
    ("GET", "/vouchers/publish"): Row(action="vouchers.offering.publish|vouchers.programme.create"),
    ("POST", "/vouchers/offerings"): Row(body=lambda c: {**OFFERING_BODY, "price_fen_per_card_hour": "1"},
                                         action="vouchers.offering.publish"),
    ("POST", "/vouchers/programmes"): Row(body=lambda c: {**PROGRAMME_BODY, "face_values_fen": "1", "ratio_bp": "30",
                                                          "budget_fen": "1", "cap_company_year_fen": "1",
                                                          "cap_contract_fen": "1"},
                                          action="vouchers.programme.create"),
    ("GET", "/vouchers/mine"): Row(action="vouchers.mine"),
    ("GET", "/vouchers/orders/{order_id:int}"): Row(params=lambda c: {"order_id": c["v_order"]},
                                                    action="vouchers.order.read", on=ORDER),
    ("POST", "/vouchers/orders/{order_id:int}/usage"): Row(
        params=lambda c: {"order_id": c["v_order"]}, body=lambda c: {"used_card_hours": "1"},
        action="vouchers.order.deliver", on=ORDER),
    ("POST", "/vouchers/orders/{order_id:int}/claim"): Row(
        params=lambda c: {"order_id": c["v_order"]}, body=lambda c: {"invoice_number": "52000001"},
        action="vouchers.order.deliver", on=ORDER),
    ("POST", "/vouchers/claims/{claim_id:int}/decide"): Row(
        params=lambda c: {"claim_id": c["v_claim_page"]}, body=lambda c: {"decision": "reject", "reason": "x"},
        action="vouchers.programme.manage", on=PROGRAMME),
}


def setup(ctx: dict[str, Any], db: Any, make: Any, actor: Actor | None, env: dict[str, Any]) -> None:
    acting = actor.org_id if actor is not None and not actor.is_staff else None
    kind = actor.org_type if actor is not None else None
    admin = acting if kind == "voucher_administrator" else make.org(org_type="voucher_administrator").id
    provider = acting if kind == "compute_provider" else make.org(org_type="compute_provider").id
    company = acting if acting is not None and kind in COMPANY_TYPES else make.org(org_type="data_merchant").id
    today = dt.date.today()
    offering = Offering(provider_org_id=provider, data_centre="贵安", division_code="520900", accelerator="A",
                        card_count=1, card_hours_per_month=100, price_fen_per_card_hour=100,
                        service_kind="training", declared_tflops=1, precision="FP16")
    programme = Programme(admin_org_id=admin, name_zh="矩阵券", kind="compute", budget_fen=10_000,
                          starts_on=today - dt.timedelta(days=1), ends_on=today + dt.timedelta(days=30),
                          eligible_sizes=["small"], eligible_purposes=["large_model_training"], excluded_org_ids=[],
                          ratio_bp=3000, cap_company_year_fen=1000, cap_contract_fen=1000, face_values_fen=[1000],
                          voucher_valid_days=30, max_term_months=6, provider_org_ids=[provider])
    db.add_all([offering, programme])
    db.flush()
    ctx["v_offering"] = offering.id
    for key in ("v_application_api", "v_application_page"):
        application = Application(programme_id=programme.id, org_id=company, purpose="large_model_training",
                                  company_size="small", planned_use="矩阵", requested_fen=1000)
        db.add(application)
        db.flush()
        ctx[key] = application.id
    orders = []
    for n in range(3):
        order = ComputeOrder(programme_id=programme.id, offering_id=offering.id, provider_org_id=provider,
                             company_org_id=company, subject=f"matrix:{programme.id}:{n}",
                             purpose="large_model_training", month=today.strftime("%Y-%m"), term_months=1,
                             card_hours=10, price_fen_per_card_hour=100, total_fen=1000, voucher_fen=0,
                             cash_fen=1000, status="settled", used_card_hours=10, settled_total_fen=1000,
                             settled_voucher_fen=300, log_index=0)
        db.add(order)
        db.flush()
        orders.append(order)
    ctx["v_order"] = orders[0].id
    for key, order in (("v_claim_api", orders[1]), ("v_claim_page", orders[2])):
        claim = Reimbursement(order_id=order.id, programme_id=programme.id, provider_org_id=provider,
                              amount_fen=300, invoice_number="52000001", delivery_digest="0" * 64)
        db.add(claim)
        db.flush()
        ctx[key] = claim.id
    ctx["v_programme"], ctx["v_company"], ctx["v_provider"] = programme.id, company, provider
    ctx["res"][PROGRAMME] = programme_resource(admin)
    ctx["res"][ORDER] = order_resource(company, provider, admin)
