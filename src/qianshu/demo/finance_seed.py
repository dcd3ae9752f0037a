"""Demo pledges: the demo bank (贵阳农商银行) lends against issued certificates of the demo
merchants, through the finance services like any bank would: a realistic book of loans of 5–20
million yuan for a year or less, most confirmed by their holders, one repaid and released, one
enforced on default by a sale at a fixed price (the buyer's exchange contract records it). Before
lending, the demo appraiser (the service provider 黔数合规评估事务所, ``service.provider@qianshu.demo``)
values the first asset with a signed worksheet, and the bank's pledge over it is computed on that
valuation.

What else a bank officer should see: one defaulted loan's asset offered in a **forced sale** on
the exchange (``/finance/sales``), an auction of a week in which two organisations have bid (the
operator recorded their bidding deposits; the first bid was outbid and repaid), and an **alert**
that a pledged asset's holder is challenged (the holder renewed the registration and another
merchant objected during its public notice).
The first holder keeps an **accounting pack**: the costs of its assets as its books show them."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.actor import Actor
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.core.signing import load_signer
from qianshu.demo.registrations import actor_of
from qianshu.finance import accounting, auction, sale, schemas, service, valuation
from qianshu.ledger import service as ledger
from qianshu.registry import review
from qianshu.registry import schemas as registry_schemas
from qianshu.registry import service as registry

BANK_USER = "bank@qianshu.demo"
APPRAISER_USER = "service.provider@qianshu.demo"
# A worksheet as an appraiser would fill it (fen; basis points): 2,830万 of costs, × 1.05 for
# quality, less 10 % obsolescence; five years of income of which 40 % is the data's, at 9 %; the
# market approach expects 600 licences a year at the comparables' adjusted licence price (about
# ¥10,000: the demo's G54 contracts × 0.9 for timeliness), capitalised over the same five years at
# 9 %: about ¥2,420万, within the reasonableness band of the cost approach's ¥2,674万. (The demo's
# trading history is a job that runs once the portal is up: the worksheet signed while seeding has
# no comparables yet, the ones an appraiser fills in afterwards have.)
WORKSHEET = schemas.ValuationIn(
    acquisition_fen=12_000_000_00, processing_fen=6_000_000_00, storage_fen=1_500_000_00, labour_fen=8_000_000_00,
    rights_fen=500_000_00, quality_fen=300_000_00, quality_factor_bp=10_500, obsolescence_bp=1000,
    incomes_fen=[8_000_000_00, 9_000_000_00, 10_000_000_00], share_bp=4000, discount_bp=900, life_years=5,
    scale_bp=10_000, market_quality_bp=10_000, timeliness_bp=9000, rights_bp=10_000, licences_per_year=600,
    method="cost",
    notes="演示估值")
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
        challenged: tuple[Actor, int] | None = None
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
                    service.release_pledge(db, bank, signer, pledge.id, "贷款已结清")
                if made == 3:  # enforced on default by a sale at a fixed price: the buyer's contract is a trade
                    _sell(db, settings, signer, bank, pledge, secured)
                if made == 5:  # a defaulted loan: the asset is offered in a forced sale on the exchange
                    offered = sale.list_forced_sale(db, bank, signer, pledge.id, secured * 11 // 10 // 100 * 100,
                                                    "借款人逾期 90 天", closes_in_days=7)
                    _bid(db, signer, offered, holder.org_id or 0)
                if made == 6:
                    challenged = (holder, pledge.registration_id)
        if challenged is not None:
            _challenge(db, settings, *challenged)
        _book_costs(db, actor_of(db, HOLDERS[0]))


SALE_BUYER = "merchant.health@qianshu.demo"  # buys the asset sold at a fixed price
BIDDERS = ("buyer.logistics@qianshu.demo", "merchant.health@qianshu.demo", "merchant.traffic@qianshu.demo")


def _bid(db: Session, signer: Any, offered: Any, holder_org_id: int) -> None:
    """Two organisations (not the holder) deposit their bid and a tenth of the reserve more (so that
    a visitor signed in as one of them can bid again) and bid: the reserve, then two steps above it."""
    operator = actor_of(db, "operator@qianshu.demo")
    bidders = [a for a in (actor_of(db, email) for email in BIDDERS) if a.org_id != holder_org_id][:2]
    for n, (bidder, amount) in enumerate(zip(bidders, (offered.price_fen, offered.price_fen + 2 * offered.step_fen),
                                             strict=True), start=1):
        ledger.deposit(db, operator, org_id=bidder.org_id or 0, amount_fen=amount + offered.price_fen // 10,
                       bank_reference=f"2026-11-8{n:04d}", memo="竞买保证金入金")
        auction.place_bid(db, bidder, signer, offered.id, amount)


def _sell(db: Session, settings: Settings, signer: Any, bank: Actor, pledge: Any, secured: int) -> None:
    """The bank sells a defaulted loan's asset at a fixed price; a logistics company buys it (the
    operator recorded its transfer in first). The sale settles at once: the fee, the bank up to the
    debt, the holder the rest, the rights transferred, and an exchange contract for both parties."""
    offered = sale.list_forced_sale(db, bank, signer, pledge.id, secured // 100 * 100,
                                    "借款人逾期未还")
    buyer = actor_of(db, SALE_BUYER)
    ledger.deposit(db, actor_of(db, "operator@qianshu.demo"), org_id=buyer.org_id or 0,
                   amount_fen=offered.price_fen, bank_reference="2026-11-70001", memo="购买资产入金")
    sale.buy_forced_sale(db, buyer, settings, signer, offered.id)


def _challenge(db: Session, settings: Settings, holder: Actor, registration_id: int) -> None:
    """The holder renews a pledged registration; during its public notice another merchant objects
    (the bank is told after the commit, through the registry's ``registration.challenged``)."""
    renewal = review.start_follow_up(db, holder, registration_id,
                                     registry_schemas.FollowUpIn(reg_type="renewal", reason="到期续期"))
    review.submit(db, holder, renewal.id)
    review.approve(db, actor_of(db, "reviewer@qianshu.demo"), settings, renewal.id, registry_schemas.Approval())
    review.file_objection(db, actor_of(db, HOLDERS[1]), renewal.id,
                          "该数据部分由我方采集，持有人无权单独续期")


# (category, yuan, days before the certificate's issue): what a holder's books show for an asset
COSTS = (("acquisition", 1_200_000, 120), ("processing", 450_000, 60), ("labour", 380_000, 45),
         ("rights", 60_000, 20), ("quality", 40_000, 10), ("registration", 5_000, 5), ("appraisal", 80_000, 3))


def _book_costs(db: Session, holder: Actor) -> None:
    """The accounting pack of the first holder: its first assets' costs; the second it holds for sale."""
    for n, reg in enumerate(registry.issued_of_holder(db, holder.org_id or 0)[:2]):
        if reg.issued_at is None:
            continue
        issued = reg.issued_at.date()
        for category, yuan, days in COSTS:
            accounting.add_cost(db, holder, schemas.AssetCostIn(
                registration_id=reg.id, category=category, amount_fen=yuan * 100 * (n + 1),
                incurred_on=issued - timedelta(days=days), note="演示数据"))
        if n == 1:
            accounting.set_choice(db, holder, schemas.AccountingChoiceIn(registration_id=reg.id, intent="for_sale",
                                                                         useful_life_months=60))
