"""Demo compute vouchers: the province's voucher service centre (vouchers@qianshu.demo) runs a
compute-voucher programme with the Gui'an data centres as providers; the demo companies apply,
get vouchers, buy training compute with them, and a season (three months) of orders is settled on
metered usage and reimbursed — all through the voucher services, as the portal would. A data-voucher
programme pays part of an exchange contract the weather company buys: delivered, its seller's claim
waits for the centre."""

from __future__ import annotations

import base64
import random
from datetime import timedelta

from sqlalchemy.orm import Session

from qianshu.core.actor import Actor
from qianshu.core.blobs import BlobStore, open_blob_store
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.demo.exchange_seed import SCENARIOS, priced_offers, seller_actor
from qianshu.demo.registrations import actor_of
from qianshu.exchange import contracts as exchange_contracts
from qianshu.exchange import orders as exchange_orders
from qianshu.exchange import payments
from qianshu.exchange.schemas import OrderIn
from qianshu.ledger import service as ledger
from qianshu.vouchers import data_vouchers, redemption, schemas, service
from qianshu.vouchers.settings import VouchersSettings

ADMIN = "vouchers@qianshu.demo"
# (provider login, data centre, division, accelerator, cards, card-hours a month, fen per card-hour,
#  service kind, declared TFLOPS, precision)
OFFERINGS = (
    ("compute.mobile@qianshu.demo", "中国移动（贵州）贵安数据中心", "520111", "Ascend 910B", 2048, 1_400_000, 1_150,
     "training", 640_000, "FP16"),
    ("compute.unicom@qianshu.demo", "中国联通贵安云数据中心", "520111", "NVIDIA A800", 1024, 700_000, 1_600,
     "training", 320_000, "FP16"),
    ("compute.telecom@qianshu.demo", "中国电信云计算贵州信息园", "520403", "Ascend 910B", 1536, 1_050_000, 1_100,
     "fine_tuning", 480_000, "FP16"),
    ("compute.telecom@qianshu.demo", "中国电信遵义数据中心", "520302", "Hygon DCU K100", 512, 350_000, 700,
     "inference", 100_000, "FP16"),
    ("compute.huawei@qianshu.demo", "华为云贵安数据中心", "520403", "Ascend 910B", 4096, 2_800_000, 1_200,
     "training", 1_280_000, "FP16"),
    ("compute.tencent@qianshu.demo", "腾讯贵安七星数据中心", "520403", "NVIDIA H20", 1024, 700_000, 1_350,
     "inference", 150_000, "FP8"),
)
# (the demo buyer's wallet is the exchange's demo: its statement shows its trades only)
COMPANIES = ("merchant.traffic@qianshu.demo", "merchant.weather@qianshu.demo", "merchant.health@qianshu.demo")
PLANS = {
    "merchant.traffic@qianshu.demo": ("large_model_training", "训练贵阳城市交通大模型（信号配时与拥堵预测）"),
    "merchant.weather@qianshu.demo": ("industry_model_adaptation", "气象行业大模型适配：山区短临降水预报"),
    "merchant.health@qianshu.demo": ("industry_model_adaptation", "医保审核行业模型微调"),
}
METERING = base64.b64encode(b"node,card,started,ended,card_hours\n").decode()


def _month(day: object, back: int) -> str:
    from datetime import date

    assert isinstance(day, date)
    year, month = day.year, day.month - back
    while month < 1:
        year, month = year - 1, month + 12
    return f"{year}-{month:02d}"


def seed(database: Database, settings: Settings, org_ids: dict[str, int]) -> None:
    r = random.Random(15)
    blobs = open_blob_store(settings)
    limit = settings.section(VouchersSettings).max_evidence_bytes
    today = service.today()
    with database.unit_of_work() as db:
        operator = actor_of(db, "operator@qianshu.demo")
        admin = actor_of(db, ADMIN)
        # the programme's budget arrives from the province's treasury into the centre's wallet
        ledger.deposit(db, operator, org_id=admin.org_id or 0, amount_fen=50_000_000 * 100,
                       bank_reference="2026-GZ-CZ-0001", memo="省级算力券专项资金")
        offerings: dict[str, list[int]] = {}
        for email, centre, division, card, cards, hours, price, kind, tflops, precision in OFFERINGS:
            provider = actor_of(db, email)
            found = service.publish_offering(db, provider, schemas.OfferingIn(
                data_centre=centre, division_code=division, accelerator=card, card_count=cards,
                card_hours_per_month=hours, price_fen_per_card_hour=price, service_kind=kind,
                declared_tflops=tflops, precision=precision))
            offerings.setdefault(email, []).append(found.id)
        providers = sorted({actor_of(db, e).org_id or 0 for e in offerings})
        programme = service.create_programme(db, admin, schemas.ProgrammeIn(
            name_zh="2026年贵州省算力券（第一批）", name_en="Guizhou compute vouchers 2026 (first round)",
            kind="compute", budget_fen=50_000_000 * 100, starts_on=today - timedelta(days=95),
            ends_on=today + timedelta(days=270), eligible_division="520000",
            eligible_sizes=["micro", "small", "medium"],
            eligible_purposes=["large_model_training", "industry_model_adaptation", "inference_service"],
            ratio_bp=3000, cap_company_year_fen=5_000_000 * 100, cap_contract_fen=1_000_000 * 100,
            face_values_fen=[1_000_000 * 100, 500_000 * 100, 100_000 * 100], voucher_valid_days=365,
            max_term_months=12, one_voucher_per_contract=False, require_payment_proof=False,
            provider_org_ids=providers))
        vouchers: dict[str, list[int]] = {}
        for email in COMPANIES:
            company = actor_of(db, email)
            ledger.deposit(db, operator, org_id=company.org_id or 0, amount_fen=3_000_000 * 100,
                           bank_reference=f"2026-GZ-SL-{company.org_id:04d}", memo="算力采购资金")
            purpose, plan = PLANS[email]
            application = service.apply(db, company, programme.id, schemas.ApplicationIn(
                purpose=purpose, company_size="small", planned_use=plan,
                requested_fen=2_000_000 * 100))
            service.decide_application(db, admin, application.id, schemas.DecisionIn(
                approve=True, reason="材料齐全，符合申报条件"))
            vouchers[email] = [v.id for v in service.vouchers_of(db, company) if v.remaining_fen > 0]
        # a season of training orders: three months back to this one
        for back in (3, 2, 1, 0):
            for email in COMPANIES:
                company = actor_of(db, email)
                provider_email = r.choice(list(offerings))
                purpose = PLANS[email][0]
                order = redemption.place_order(db, company, programme.id, schemas.OrderIn(
                    offering_id=r.choice(offerings[provider_email]), card_hours=r.randrange(8, 40) * 1000,
                    month=_month(today, back), term_months=1, purpose=purpose,
                    voucher_ids=vouchers[email]))
                if back == 0 and email == COMPANIES[-1]:
                    continue  # this month's last order still runs: no usage reported yet
                provider = actor_of(db, provider_email)
                used = order.card_hours * r.randrange(80, 101) // 100
                redemption.report_usage(db, provider, blobs, order.id, schemas.UsageIn(
                    used_card_hours=used, evidence_name=f"metering-{order.month}.csv", evidence_base64=METERING), limit)
                if back > 0:
                    claim = redemption.claim_reimbursement(db, provider, blobs, order.id, schemas.ClaimIn(
                        invoice_number=f"5200{order.id:06d}", delivery_proof_base64=METERING), limit)
                    if back > 1 or email != COMPANIES[0]:  # one claim of last month waits for the centre
                        redemption.decide_claim(db, admin, claim.id, schemas.ClaimDecisionIn(approve=True))
        # an application still waiting for a decision
        service.apply(db, actor_of(db, "service.provider@qianshu.demo"), programme.id, schemas.ApplicationIn(
            purpose="inference_service", company_size="micro", planned_use="合规评估文书智能审查推理服务",
            requested_fen=500_000 * 100))
        _data_vouchers(db, admin, blobs, limit)


def _data_vouchers(db: Session, admin: Actor, blobs: BlobStore, limit: int) -> None:
    """A data-voucher programme of the centre with one data merchant; the weather company pays a
    contract of it with a data voucher, the seller delivers and claims the voucher part; a second
    contract waits to be paid (the contract page's voucher form)."""
    buyer = actor_of(db, "merchant.weather@qianshu.demo")  # a company of the compute programme too
    offers = [o for o in priced_offers(db, buyer) if o[1].kind in ("one_time", "monthly", "yearly")][-1:]
    if not offers:
        return
    listing, plan, purpose = offers[0]
    seller = seller_actor(db, listing.org_id)
    if seller is None:
        return
    ledger.deposit(db, actor_of(db, "operator@qianshu.demo"), org_id=admin.org_id or 0, amount_fen=2_000_000 * 100,
                   bank_reference="2026-GZ-CZ-0002", memo="省级数据券试点资金")
    today = service.today()
    programme = service.create_programme(db, admin, schemas.ProgrammeIn(
        name_zh="2026年贵州省数据券（试点）", name_en="Guizhou data vouchers 2026 (pilot)", kind="data",
        budget_fen=2_000_000 * 100, starts_on=today - timedelta(days=30), ends_on=today + timedelta(days=150),
        eligible_division="520000", eligible_sizes=["micro", "small", "medium"], eligible_purposes=["data_product"],
        ratio_bp=3000, cap_company_year_fen=200_000 * 100, cap_contract_fen=50_000 * 100,
        face_values_fen=[50_000 * 100, 10_000 * 100], voucher_valid_days=120, max_term_months=12,
        provider_org_ids=[listing.org_id]))
    application = service.apply(db, buyer, programme.id, schemas.ApplicationIn(
        purpose="data_product", company_size="small",
        planned_use="采购交通与气象相关数据产品，用于山区短临降水预报模型", requested_fen=50_000 * 100))
    service.decide_application(db, admin, application.id, schemas.DecisionIn(approve=True, reason="符合数据券申报条件"))
    order = exchange_orders.place_order(db, buyer, OrderIn(listing_id=listing.id, plan_id=plan.id, purpose=purpose,
                                                           scenario=SCENARIOS[0]))
    contract = exchange_orders.accept_order(db, seller, order.id)
    exchange_contracts.sign(db, seller, contract.id)
    exchange_contracts.sign(db, buyer, contract.id)
    voucher_ids = [v.id for v in service.vouchers_of(db, buyer) if v.programme_id == programme.id]
    paid = data_vouchers.pay_contract(db, buyer, programme.id, schemas.ContractPaymentIn(
        contract_id=contract.id, voucher_ids=voucher_ids[:1]))
    payments.deliver(db, seller, contract.id)
    redemption.claim_reimbursement(db, seller, blobs, paid.id, schemas.ClaimIn(
        invoice_number=f"5201{paid.id:06d}", delivery_proof_base64=METERING), limit)
    # A second contract of the same product, signed and not paid yet: its contract page offers the
    # weather company the data-voucher payment form (vouchers' contract_panel hook).
    again = exchange_orders.place_order(db, buyer, OrderIn(listing_id=listing.id, plan_id=plan.id, purpose=purpose,
                                                           scenario=SCENARIOS[0]))
    unpaid = exchange_orders.accept_order(db, seller, again.id)
    exchange_contracts.sign(db, seller, unpaid.id)
    exchange_contracts.sign(db, buyer, unpaid.id)
