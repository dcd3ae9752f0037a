"""Vouchers through the services: issuance within the budget, payment with vouchers up to the
ratio and caps, settlement on metered usage, reimbursement, and every abuse rule refused with
nothing moved."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from qianshu.core.blobs import open_blob_store
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, QianshuError
from qianshu.ledger import service as ledger
from qianshu.translog.models import LogEntry
from qianshu.vouchers import redemption, schemas, service, statistics, trust
from qianshu.vouchers.models import ComputeOrder, Programme, Voucher
from tests.vouchers.conftest import EVIDENCE, World, issue, programme_in

LIMIT = 1_000_000


def order_in(world: World, vouchers: list[int], hours: int = 1000, **more: object) -> schemas.OrderIn:
    return schemas.OrderIn(offering_id=world.offering_id, card_hours=hours, month=service.today().strftime("%Y-%m"),
                           purpose="large_model_training", voucher_ids=vouchers, **more)  # type: ignore[arg-type]


def test_the_whole_road_moves_the_books(db, world: World, settings) -> None:
    programme = db.get(Programme, world.programme_id)
    assert ledger.balance(db, programme.budget_account_id) == 10_000_000_00
    vouchers = issue(db, world, world.company, [100_000_00])
    assert programme.committed_fen == 100_000_00
    assert programme.remaining_fen == 9_900_000_00
    company = world.actor(world.company)
    wallet_before = ledger.balance(db, ledger.wallet_of(db, world.company.org_id))
    # 1,000 card-hours at 12 yuan = 12,000 yuan; vouchers pay at most 30 % = 3,600 yuan
    order = redemption.place_order(db, company, world.programme_id, order_in(world, vouchers))
    assert (order.total_fen, order.voucher_fen, order.cash_fen) == (1_200_000, 360_000, 840_000)
    assert db.get(Voucher, vouchers[0]).remaining_fen == 100_000_00 - 360_000
    assert ledger.balance(db, ledger.wallet_of(db, world.company.org_id)) == wallet_before - 840_000
    # 800 hours used: 9,600 yuan; vouchers keep 30 % = 2,880; the company pays 6,720 and gets 1,680 back
    blobs = open_blob_store(settings)
    settled = redemption.report_usage(db, world.actor(world.provider), blobs, order.id, schemas.UsageIn(
        used_card_hours=800, evidence_name="metering.csv", evidence_base64=EVIDENCE), LIMIT)
    assert (settled.settled_total_fen, settled.settled_voucher_fen) == (960_000, 288_000)
    assert db.get(Voucher, vouchers[0]).remaining_fen == 100_000_00 - 288_000
    assert ledger.balance(db, ledger.wallet_of(db, world.company.org_id)) == wallet_before - 672_000
    assert ledger.balance(db, ledger.wallet_of(db, world.provider.org_id)) == 672_000
    claim = redemption.claim_reimbursement(db, world.actor(world.provider), blobs, order.id, schemas.ClaimIn(
        invoice_number="52001234", delivery_proof_base64=EVIDENCE), LIMIT)
    redemption.decide_claim(db, world.actor(world.admin), claim.id, schemas.ClaimDecisionIn(approve=True))
    assert ledger.balance(db, ledger.wallet_of(db, world.provider.org_id)) == 672_000 + 288_000
    assert ledger.balance(db, programme.budget_account_id) == 10_000_000_00 - 288_000
    assert programme.reimbursed_fen == 288_000
    kinds = [e.event_type for e in db.scalars(select(LogEntry).order_by(LogEntry.index))]
    for kind in ("vouchers.issued", "vouchers.redeemed", "vouchers.settled", "vouchers.reimbursed"):
        assert kind in kinds
    board = statistics.dashboard(db, world.actor(world.company))
    assert board.redeemed_fen == 288_000
    assert board.card_hours == 800
    assert board.vouchers_issued == 1
    assert [p.key for p in board.series["by_purpose"]] == ["large_model_training"]
    with pytest.raises(Conflict) as twice:  # usage reported twice
        redemption.report_usage(db, world.actor(world.provider), blobs, order.id, schemas.UsageIn(
            used_card_hours=10, evidence_name="m.csv", evidence_base64=EVIDENCE), LIMIT)
    assert twice.value.code == "usage_already_reported"
    with pytest.raises(Conflict) as again:  # reimbursement claimed twice
        redemption.claim_reimbursement(db, world.actor(world.provider), blobs, order.id, schemas.ClaimIn(
            invoice_number="52001234", delivery_proof_base64=EVIDENCE), LIMIT)
    assert again.value.code == "already_claimed"


@pytest.mark.parametrize(("change", "field"), [
    ({"cap_contract_fen": 5_000_00}, "cap_contract_fen"),
    ({"cap_company_year_fen": 5_000_00}, "cap_company_year_fen"),
    ({"ends_on": service.today() - timedelta(days=30)}, "ends_on"),
    ({"budget_fen": 1_00}, "budget_fen"),
])
def test_a_programme_is_validated_at_save(db, world: World, change: dict[str, object], field: str) -> None:
    data = programme_in([world.provider.org_id], kind="model", **change)
    with pytest.raises(InvalidInput) as refused:
        service.create_programme(db, world.actor(world.admin), data)
    assert refused.value.field == field


@pytest.mark.parametrize("ratio", [-1, 10_001])
def test_a_ratio_outside_0_to_100_percent_is_refused(world: World, ratio: int) -> None:
    with pytest.raises(ValidationError):
        programme_in([world.provider.org_id], ratio_bp=ratio)


def test_overlapping_programmes_are_refused(db, world: World) -> None:
    with pytest.raises(Conflict) as refused:
        service.create_programme(db, world.actor(world.admin), programme_in([world.provider.org_id]))
    assert refused.value.code == "overlapping_programme"
    # another kind, or other providers, is no overlap
    service.create_programme(db, world.actor(world.admin), programme_in([world.provider.org_id], kind="model"))


def test_a_budget_larger_than_the_wallet_moves_nothing(db, world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        service.create_programme(db, world.actor(world.admin), programme_in(
            [world.provider.org_id], kind="model", budget_fen=50_000_000_00))
    assert refused.value.field == "budget_fen"


def test_issuance_never_passes_the_budget_nor_the_company_cap(db, world: World) -> None:
    programme = db.get(Programme, world.programme_id)
    programme.budget_fen = programme.committed_fen + 150_000_00  # room for one 100,000 voucher and one 50,000
    issue(db, world, world.company, [100_000_00])
    with pytest.raises(Conflict) as refused:
        issue(db, world, world.other_company, [100_000_00])
    assert refused.value.code == "budget_exhausted"
    assert programme.remaining_fen == 50_000_00
    programme.budget_fen = 10**12
    programme.cap_company_year_fen = 150_000_00
    with pytest.raises(InvalidInput) as capped:
        issue(db, world, world.company, [100_000_00])
    assert capped.value.code == "above_company_cap"


def test_redemption_rules(db, world: World, settings) -> None:
    vouchers = issue(db, world, world.company, [100_000_00, 10_000_00])
    company = world.actor(world.company)
    # above the ratio or the cap, when asked for explicitly
    for asked, code in ((400_000, "above_ratio"),):
        with pytest.raises(InvalidInput) as refused:
            redemption.place_order(db, company, world.programme_id, order_in(world, vouchers, voucher_fen=asked))
        assert refused.value.code == code
    programme = db.get(Programme, world.programme_id)
    programme.cap_contract_fen = 100_000
    order = redemption.place_order(db, company, world.programme_id, order_in(world, vouchers))
    assert order.voucher_fen == 100_000  # the per-contract cap
    # another organisation acting on the company's voucher: as if it did not exist
    with pytest.raises(NotFound):
        redemption.place_order(db, world.actor(world.other_company), world.programme_id, order_in(world, vouchers))
    # usage above capacity
    with pytest.raises(InvalidInput) as full:
        redemption.place_order(db, company, world.programme_id, order_in(world, vouchers, hours=400_000))
    assert full.value.code == "above_capacity"
    # usage reported above what was ordered
    with pytest.raises(InvalidInput) as above:
        redemption.report_usage(db, world.actor(world.provider), open_blob_store(settings), order.id,
                                schemas.UsageIn(used_card_hours=1001, evidence_name="m", evidence_base64=EVIDENCE),
                                LIMIT)
    assert above.value.code == "above_ordered"
    # the other provider may not report on this order
    with pytest.raises(NotFound):
        redemption.report_usage(db, world.actor(world.other_provider), open_blob_store(settings), order.id,
                                schemas.UsageIn(used_card_hours=1, evidence_name="m", evidence_base64=EVIDENCE),
                                LIMIT)
    # one voucher per contract
    programme.one_voucher_per_contract = True
    with pytest.raises(InvalidInput) as one:
        redemption.place_order(db, company, world.programme_id, order_in(world, vouchers))
    assert one.value.code == "one_voucher_per_contract"


def test_a_long_term_a_voucher_part_above_the_cap_and_a_claim_without_payment_proof_are_refused(
        db, world: World, settings) -> None:
    vouchers = issue(db, world, world.company)
    company, blobs = world.actor(world.company), open_blob_store(settings)
    programme = db.get_one(Programme, world.programme_id)
    with pytest.raises(InvalidInput) as long:  # the programme pays contracts of at most 12 months
        redemption.place_order(db, company, world.programme_id, order_in(world, vouchers, term_months=13))
    assert (long.value.code, long.value.field) == ("term_too_long", "term_months")
    programme.cap_contract_fen = 1_000_00
    with pytest.raises(InvalidInput) as capped:  # within the ratio (30 % of 12,000 yuan), above the cap
        redemption.place_order(db, company, world.programme_id, order_in(world, vouchers, voucher_fen=2_000_00))
    assert (capped.value.code, capped.value.field) == ("above_cap", "voucher_fen")
    left = db.get_one(Voucher, vouchers[0]).remaining_fen
    assert left == 100_000_00  # nothing taken by the refusals
    programme.require_payment_proof = True
    order = redemption.place_order(db, company, world.programme_id, order_in(world, vouchers))
    redemption.report_usage(db, world.actor(world.provider), blobs, order.id, schemas.UsageIn(
        used_card_hours=1000, evidence_name="m.csv", evidence_base64=EVIDENCE), LIMIT)
    claim = schemas.ClaimIn(invoice_number="52000001", delivery_proof_base64=EVIDENCE)
    with pytest.raises(InvalidInput) as unproven:
        redemption.claim_reimbursement(db, world.actor(world.provider), blobs, order.id, claim, LIMIT)
    assert (unproven.value.code, unproven.value.field) == ("payment_proof_required", "payment_proof_base64")
    assert redemption.claim_of(db, order.id) is None
    proven = claim.model_copy(update={"payment_proof_base64": EVIDENCE})
    assert redemption.claim_reimbursement(db, world.actor(world.provider), blobs, order.id, proven,
                                          LIMIT).payment_proof_digest


def test_an_expired_voucher_is_refused(db, world: World) -> None:
    vouchers = issue(db, world, world.company)
    db.get(Voucher, vouchers[0]).expires_on = service.today() - timedelta(days=1)
    with pytest.raises(Conflict) as refused:
        redemption.place_order(db, world.actor(world.company), world.programme_id, order_in(world, vouchers))
    assert refused.value.code == "voucher_expired"
    assert service.lapse_expired(db) == 1
    assert db.get(Programme, world.programme_id).committed_fen == 0


def test_related_parties_are_refused(db, world: World) -> None:
    vouchers = issue(db, world, world.company)
    trust.mark_related(db, world.actor(world.admin), world.programme_id, schemas.RelatedIn(
        org_a_id=world.provider.org_id, org_b_id=world.company.org_id))
    with pytest.raises(Conflict) as refused:
        redemption.place_order(db, world.actor(world.company), world.programme_id, order_in(world, vouchers))
    assert refused.value.code == "related_parties"
    assert db.scalar(select(ComputeOrder.id)) is None


def test_same_uscc_is_a_related_party(db, world: World) -> None:
    assert service.are_related(db, world.admin.org_id, world.company.org_id, world.company.org_id)


def test_eligibility_and_roles(db, world: World, make) -> None:
    company = world.actor(world.company)
    with pytest.raises(InvalidInput) as size:
        service.apply(db, company, world.programme_id, schemas.ApplicationIn(
            purpose="large_model_training", company_size="large", planned_use="训练大模型", requested_fen=1))
    assert size.value.field == "company_size"
    trust.record_broken_trust(db, world.actor(world.admin), world.programme_id, schemas.BrokenTrustIn(
        org_id=world.company.org_id, source="信用中国", reason="列入失信名单"))
    with pytest.raises(Conflict) as broken:
        service.apply(db, company, world.programme_id, schemas.ApplicationIn(
            purpose="large_model_training", company_size="small", planned_use="训练大模型", requested_fen=1))
    assert broken.value.code == "broken_trust"
    with pytest.raises(PermissionDenied):  # a provider does not create programmes
        service.create_programme(db, world.actor(world.provider), programme_in([world.provider.org_id]))
    stranger = make.user(organisation=make.org(org_type="voucher_administrator"))
    application = service.apply(db, world.actor(world.other_company), world.programme_id, schemas.ApplicationIn(
        purpose="large_model_training", company_size="small", planned_use="训练大模型", requested_fen=1))
    with pytest.raises(QianshuError):  # another administrator does not decide this programme's applications
        service.decide_application(db, make.actor(stranger), application.id, schemas.DecisionIn(approve=True))
