"""Demo pledges: the demo bank (贵阳农商银行) lends against issued certificates of the demo
merchants, through the finance services like any bank would: a realistic book of loans of 5–20
million yuan for a year or less, most confirmed by their holders, one repaid and released, one
enforced on default. Before lending, the demo appraiser (the service provider 黔数合规评估事务所,
``service.provider@qianshu.demo``) values the first asset with a signed worksheet, and the bank's
pledge over it is computed on that valuation."""

from __future__ import annotations

import random

from sqlalchemy.orm import Session

from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.core.signing import load_signer
from qianshu.demo.registrations import actor_of
from qianshu.finance import schemas, service, valuation
from qianshu.registry import review
from qianshu.registry import service as registry

BANK_USER = "bank@qianshu.demo"
APPRAISER_USER = "service.provider@qianshu.demo"
# A worksheet as an appraiser would fill it (fen; basis points): 2,830万 of costs, × 1.05 for
# quality, less 10 % obsolescence; five years of income of which 40 % is the data's, at 9 %.
WORKSHEET = schemas.ValuationIn(
    acquisition_fen=12_000_000_00, processing_fen=6_000_000_00, storage_fen=1_500_000_00, labour_fen=8_000_000_00,
    rights_fen=500_000_00, quality_fen=300_000_00, quality_factor_bp=10_500, obsolescence_bp=1000,
    incomes_fen=[8_000_000_00, 9_000_000_00, 10_000_000_00], share_bp=4000, discount_bp=900, life_years=5,
    scale_bp=10_000, market_quality_bp=10_000, timeliness_bp=9000, rights_bp=10_000, method="cost",
    notes="演示估值 / demo valuation")
HOLDERS = ("merchant.traffic@qianshu.demo", "merchant.weather@qianshu.demo", "merchant.health@qianshu.demo")


def _issued_numbers(db: Session, org_id: int) -> list[str]:
    numbers = []
    for reg in registry.issued_of_holder(db, org_id):
        cert = review.certificate_of(db, reg.id)
        if cert is not None and cert.revoked_at is None:
            numbers.append(cert.number)
    return numbers


def seed(database: Database, settings: Settings, org_ids: dict[str, int]) -> None:
    r = random.Random(14)
    signer = load_signer(settings.key_dir)
    with database.unit_of_work() as db:
        bank = actor_of(db, BANK_USER)
        service.set_ltv_limit(db, bank, schemas.LtvLimitIn(category="", limit_bp=6000))
        service.set_ltv_limit(db, bank, schemas.LtvLimitIn(category="G", limit_bp=7000))  # transport data
        appraiser = actor_of(db, APPRAISER_USER)
        made, valued = 0, None
        for email in HOLDERS:
            holder = actor_of(db, email)
            for number in _issued_numbers(db, holder.org_id or 0)[:3]:
                secured = r.randrange(500, 2001) * 10_000 * 100  # 5–20 million yuan, in fen
                if valued is None:  # the first asset is valued, signed, and lent against at half its value
                    started = valuation.start_valuation(db, appraiser,
                                                        schemas.ValuationStart(certificate_number=number))
                    valuation.update_valuation(db, appraiser, settings, started.id, WORKSHEET)
                    valued = valuation.sign_valuation(db, appraiser, settings, signer, started.id)
                    secured = (valued.value_fen or 0) // 2 // 100 * 100
                pledge = service.create_pledge(db, bank, settings, signer, schemas.PledgeIn(
                    certificate_number=number, pledgor_org_id=holder.org_id or 0, secured_fen=secured,
                    appraised_fen=secured * 2, interest_bp=r.choice((350, 380, 400)),
                    term_months=r.choice((6, 9, 12)), risk_pool_bp=7000))
                made += 1
                if made % 4 != 0:  # one in four still waits for its holder's confirmation
                    service.confirm_pledge(db, holder, signer, pledge.id)
                if made == 2:
                    service.release_pledge(db, bank, signer, pledge.id, "贷款已结清 / repaid")
                if made == 3:
                    service.enforce_pledge(db, bank, signer, pledge.id, "借款人逾期未还 / borrower defaulted")
