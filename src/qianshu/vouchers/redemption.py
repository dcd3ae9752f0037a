"""Spending vouchers: an order of compute paid partly with vouchers, its settlement on metered
usage, and the provider's reimbursement claim on the programme.

Money: the company's part moves from its wallet to an escrow account of the order at payment; at
settlement the escrow pays the provider for the usage actually metered and refunds the rest. The
voucher part is reserved on the vouchers at payment and kept on the settlement; the programme's
budget account pays it to the provider when the administrator approves the claim.

Concurrency (SQLite: one writer; PostgreSQL: ``SELECT … FOR UPDATE``): an order locks its
offering (capacity) and its vouchers in id order (value), so a voucher applied by two orders at
once is spent once; usage reports and claims lock their order, so each happens once; a claim's
row is unique per order and the ledger's ``unique_ref`` refuses a second reimbursement too.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core import audit, inbox, policy
from qianshu.core.actor import Actor
from qianshu.core.blobs import BlobStore
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import N_
from qianshu.core.timeutil import utcnow
from qianshu.exchange import payments
from qianshu.exchange import service as exchange
from qianshu.ledger import service as ledger
from qianshu.translog import service as log
from qianshu.vouchers import schemas
from qianshu.vouchers.models import ComputeOrder, Offering, Programme, Reimbursement, Voucher, VoucherUse
from qianshu.vouchers.permissions import order_resource, programme_resource, voucher_resource
from qianshu.vouchers.service import (
    CAPABILITY,
    are_related,
    get_programme,
    lock,
    managed_programme,
    missing_programme,
    refuse_broken_trust,
    today,
    uscc_of,
)


def _missing_order(order_id: int) -> NotFound:
    return NotFound("Order {order_id} does not exist.", field="order_id", order_id=order_id)


def decode_file(text: str, field: str, max_bytes: int) -> bytes:
    try:
        content = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("{field} must be a file in base64.", field=field, code="not_base64") from None
    if not content:
        raise InvalidInput("{field}: the file is empty.", field=field, code="empty_file")
    if len(content) > max_bytes:
        raise InvalidInput("{field}: the file is larger than {limit} bytes.", field=field, code="file_too_large",
                           limit=max_bytes)
    return content


def _store(blobs: BlobStore, content: bytes) -> str:
    digest, _size = blobs.put_stream([content])
    return digest


# --- paying with vouchers --------------------------------------------------------------------------

def place_order(db: Session, actor: Actor, programme_id: int, data: schemas.OrderIn) -> ComputeOrder:
    """A company buys card-hours from an offering of one of the programme's providers, applying its
    vouchers up to the programme's ratio and per-contract cap; the rest is paid from its wallet."""
    policy.require(actor, "vouchers.apply")
    assert actor.org_id is not None
    programme = get_programme(db, actor, programme_id)
    day = today()
    if not programme.starts_on <= day <= programme.ends_on:
        raise Conflict("The programme runs from {start} to {end}.", field="programme_id", code="programme_closed",
                       start=programme.starts_on.isoformat(), end=programme.ends_on.isoformat())
    if programme.kind == "data":
        raise Conflict("A data voucher pays for an exchange contract, not for compute.", field="programme_id",
                       code="wrong_programme_kind")
    missing = NotFound("Offering {offering_id} does not exist.", field="offering_id", offering_id=data.offering_id)
    offering = lock(db, Offering, data.offering_id, missing)  # capacity: one order at a time per offering
    if not offering.active:
        raise missing
    # with the offering locked: a record against the provider made at the same moment locks it too
    refuse_broken_trust(db, offering.provider_org_id, PROVIDER_NOT_PAID, "offering_id")
    if offering.provider_org_id not in programme.provider_org_ids:
        raise Conflict("This provider does not take part in the programme.", field="offering_id",
                       code="provider_not_in_programme")
    if are_related(db, programme.admin_org_id, actor.org_id, offering.provider_org_id):
        raise Conflict("You and the provider are related parties; a voucher does not pay between them.",
                       field="offering_id", code="related_parties")
    if data.purpose not in programme.eligible_purposes:
        raise InvalidInput("The programme does not pay for this purpose.", field="purpose", code="purpose_not_eligible")
    if data.term_months > programme.max_term_months:
        raise InvalidInput("The programme pays for contracts of at most {months} months.", field="term_months",
                           code="term_too_long", months=programme.max_term_months)
    hours = func.coalesce(ComputeOrder.used_card_hours, ComputeOrder.card_hours)
    booked = db.scalar(select(func.coalesce(func.sum(hours), 0))
                       .where(ComputeOrder.offering_id == offering.id, ComputeOrder.month == data.month)) or 0
    if int(booked) + data.card_hours > offering.card_hours_per_month:
        raise InvalidInput("The offering has {left} card-hours left in {month}.", field="card_hours",
                           code="above_capacity", left=offering.card_hours_per_month - int(booked), month=data.month)
    ids = sorted(set(data.voucher_ids))
    if len(ids) != len(data.voucher_ids):
        raise InvalidInput("A voucher is named twice.", field="voucher_ids", code="voucher_twice")
    if programme.one_voucher_per_contract and len(ids) > 1:
        raise InvalidInput("The programme allows one voucher per contract.", field="voucher_ids",
                           code="one_voucher_per_contract")
    vouchers = held_vouchers(db, actor, programme, ids)  # locked, in id order
    total = data.card_hours * offering.price_fen_per_card_hour
    allowed = min(total * programme.ratio_bp // 10_000, programme.cap_contract_fen)
    available = sum(v.remaining_fen for v in vouchers)
    voucher_fen = data.voucher_fen
    if voucher_fen is not None:
        if voucher_fen > total * programme.ratio_bp // 10_000:
            raise InvalidInput("Vouchers may pay at most {ratio} % of the bill ({limit} fen).", field="voucher_fen",
                               code="above_ratio", ratio=f"{programme.ratio_bp / 100:g}",
                               limit=total * programme.ratio_bp // 10_000)
        if voucher_fen > programme.cap_contract_fen:
            raise InvalidInput("Vouchers may pay at most {limit} fen of one contract.", field="voucher_fen",
                               code="above_cap", limit=programme.cap_contract_fen)
        if voucher_fen > available:
            raise InvalidInput("The vouchers named hold {available} fen.", field="voucher_fen",
                               code="voucher_value_short", available=available)
    applying = min(allowed, available) if voucher_fen is None else voucher_fen
    order = ComputeOrder(programme_id=programme.id, offering_id=offering.id, provider_org_id=offering.provider_org_id,
                  company_org_id=actor.org_id, subject=f"compute:{uuid.uuid4().hex}", purpose=data.purpose,
                  month=data.month, term_months=data.term_months, card_hours=data.card_hours,
                  price_fen_per_card_hour=offering.price_fen_per_card_hour, total_fen=total, voucher_fen=applying,
                  cash_fen=total - applying, city_code=offering.division_code[:4] + "00", log_index=0)
    db.add(order)
    db.flush()
    uses = []
    left = applying
    for voucher in vouchers:
        take = min(left, voucher.remaining_fen)
        if take <= 0:
            break
        voucher.remaining_fen -= take
        left -= take
        uses.append(VoucherUse(order_id=order.id, voucher_id=voucher.id, applied_fen=take))
    db.add_all(uses)
    if order.cash_fen > 0:
        escrow = ledger.open_account(db, kind="escrow", owner_org_id=actor.org_id,
                                     reference=f"voucher-order-{order.id}")
        ledger.transfers(db, actor, [ledger.Leg(ledger.wallet_of(db, actor.org_id), escrow, order.cash_fen,
                                                "voucher_order", ("voucher_order", order.id),
                                                unique_ref=f"voucher-order:{order.id}")], field="card_hours")
    usccs = uscc_of(db, [actor.org_id, offering.provider_org_id])
    entry = log.append_event(db, "vouchers.redeemed", {
        "order_id": order.id, "programme_id": programme.id, "company_uscc": usccs[actor.org_id],
        "provider_uscc": usccs[offering.provider_org_id], "card_hours": order.card_hours,
        "total_fen": total, "voucher_fen": applying, "vouchers": [u.voucher_id for u in uses], "month": data.month})
    order.log_index = entry.index
    audit.record(db, actor, "vouchers.order.paid", target_type="voucher_order", target_id=order.id,
                 target_org_id=actor.org_id, voucher_fen=applying, cash_fen=order.cash_fen)
    inbox.notify(db, CAPABILITY, "An order of {hours} card-hours was paid, {voucher} fen of it with vouchers.",
                 org_id=offering.provider_org_id, subject=("voucher_order", order.id),
                 link=f"/vouchers/orders/{order.id}", hours=order.card_hours, voucher=applying)
    db.flush()
    return order


# Joint discipline (联合惩戒) on the paid side: no subsidy goes to a provider with a broken-trust
# record in force. Its new orders are refused; its claims are held (not filed, not approved) until
# every record is lifted, and are then filed and approved as before (docs/vouchers.md).
PROVIDER_NOT_PAID = N_("The provider has a broken-trust record in force, made by {administrator} on {day} (source: "
                       "{source}); no voucher pays it until the record is lifted.")
CLAIM_HELD = N_("Your organisation has a broken-trust record in force, made by {administrator} on {day} (source: "
                "{source}); no voucher programme reimburses it until the record is lifted. The claim is not lost: "
                "file it once the record is lifted.")
APPROVAL_HELD = N_("The provider has a broken-trust record in force, made by {administrator} on {day} (source: "
                   "{source}); its claim stays pending and can be approved once the record is lifted.")

SPENDING_REFUSED = N_("Your organisation has a broken-trust record in force, made by {administrator} on {day} "
                    "(source: {source}); its vouchers are not spent until the record is lifted.")


def held_vouchers(db: Session, actor: Actor, programme: Programme, voucher_ids: list[int]) -> list[Voucher]:
    """The holder's vouchers to spend, locked in id order and each usable; then, with them locked, a
    broken-trust record in force against the holder (any administrator's) refuses the spending
    (409 ``broken_trust``; the vouchers keep their value). A record being made at the same moment
    locks the holder's vouchers too, so the two queue (trust.py)."""
    vouchers = [usable_voucher(db, actor, programme, voucher_id) for voucher_id in sorted(voucher_ids)]
    if vouchers:
        refuse_broken_trust(db, vouchers[0].holder_org_id, SPENDING_REFUSED, "voucher_ids")
    return vouchers


def usable_voucher(db: Session, actor: Actor, programme: Programme, voucher_id: int) -> Voucher:
    missing = NotFound("Voucher {voucher_id} does not exist.", field="voucher_ids", voucher_id=voucher_id)
    voucher = lock(db, Voucher, voucher_id, missing)
    policy.require(actor, "vouchers.voucher.use", voucher_resource(voucher.holder_org_id), hidden=missing)
    if voucher.programme_id != programme.id:
        raise Conflict("Voucher {voucher_id} belongs to another programme.", field="voucher_ids",
                       code="voucher_of_other_programme", voucher_id=voucher_id)
    if voucher.expires_on < today():
        raise Conflict("Voucher {voucher_id} expired on {day}.", field="voucher_ids", code="voucher_expired",
                       voucher_id=voucher_id, day=voucher.expires_on.isoformat())
    if voucher.remaining_fen <= 0:
        raise Conflict("Voucher {voucher_id} has been spent.", field="voucher_ids", code="voucher_spent",
                       voucher_id=voucher_id)
    return voucher


def _order_for(db: Session, actor: Actor, order_id: int, action: str, *, locked: bool = False) -> ComputeOrder:
    missing = _missing_order(order_id)
    order = lock(db, ComputeOrder, order_id, missing) if locked else db.get(ComputeOrder, order_id)
    if order is None:
        raise missing
    programme = db.get_one(Programme, order.programme_id)
    read = order_resource(order.company_org_id, order.provider_org_id, programme.admin_org_id)
    policy.require(actor, "vouchers.order.read", read, hidden=missing)
    if action != "vouchers.order.read":
        policy.require(actor, action, read)
    return order


def order_resource_of(db: Session, order: ComputeOrder) -> Any:
    programme = db.get_one(Programme, order.programme_id)
    return order_resource(order.company_org_id, order.provider_org_id, programme.admin_org_id)


def authorise_delivery(db: Session, actor: Actor, order_id: int) -> None:
    """The checks of ``report_usage`` and ``claim_reimbursement``, made before their once-only work."""
    _order_for(db, actor, order_id, "vouchers.order.deliver")


def authorise_claim_decision(db: Session, actor: Actor, claim_id: int) -> int:
    """The checks of ``decide_claim``; the claim's programme (its page shows the form)."""
    claim = db.get(Reimbursement, claim_id)
    if claim is None:
        raise NotFound("Claim {claim_id} does not exist.", field="claim_id", claim_id=claim_id)
    programme = db.get_one(Programme, claim.programme_id)
    policy.require(actor, "vouchers.programme.manage", programme_resource(programme.admin_org_id))
    return programme.id


def get_order(db: Session, actor: Actor, order_id: int) -> ComputeOrder:
    return _order_for(db, actor, order_id, "vouchers.order.read")


# --- usage and settlement ------------------------------------------------------------------------

def report_usage(db: Session, actor: Actor, blobs: BlobStore, order_id: int, data: schemas.UsageIn,
                 max_bytes: int) -> ComputeOrder:
    """The provider reports the metered card-hours with the metering file: the bill settles on
    them, the company is refunded what it overpaid, unused voucher value returns to its voucher
    (to the budget, if the voucher has expired meanwhile)."""
    order = _order_for(db, actor, order_id, "vouchers.order.deliver", locked=True)
    if order.status != "paid":
        raise Conflict("Usage of order {order_id} was reported already.", field="used_card_hours",
                       code="usage_already_reported", order_id=order.id)
    if data.used_card_hours > order.card_hours:
        raise InvalidInput("Usage above what was ordered ({hours} card-hours) is not paid by vouchers.",
                           field="used_card_hours", code="above_ordered", hours=order.card_hours)
    content = decode_file(data.evidence_base64, "evidence_base64", max_bytes)
    programme = lock(db, Programme, order.programme_id, missing_programme(order.programme_id))
    actual = data.used_card_hours * order.price_fen_per_card_hour
    keep = min(order.voucher_fen, actual * programme.ratio_bp // 10_000)
    cash_due = actual - keep
    refund = order.cash_fen - cash_due
    left = keep
    day = today()
    for use in db.scalars(select(VoucherUse).where(VoucherUse.order_id == order.id).order_by(VoucherUse.voucher_id)):
        use.settled_fen = min(left, use.applied_fen)
        left -= use.settled_fen
        unused = use.applied_fen - use.settled_fen
        if unused:
            voucher = lock(db, Voucher, use.voucher_id,
                           NotFound("Voucher {voucher_id} does not exist.", voucher_id=use.voucher_id))
            if voucher.expires_on >= day:
                voucher.remaining_fen += unused
            else:
                voucher.lapsed_fen += unused
                programme.committed_fen -= unused
    order.status, order.used_card_hours, order.settled_at = "settled", data.used_card_hours, utcnow()
    order.settled_total_fen, order.settled_voucher_fen = actual, keep
    order.evidence_digest, order.evidence_name = _store(blobs, content), data.evidence_name
    if order.cash_fen:
        escrow = ledger.open_account(db, kind="escrow", owner_org_id=order.company_org_id,
                                     reference=f"voucher-order-{order.id}")
        legs = []
        if cash_due:
            legs.append(ledger.Leg(escrow, ledger.wallet_of(db, order.provider_org_id), cash_due, "voucher_settlement",
                                   ("voucher_order", order.id), unique_ref=f"voucher-settle:{order.id}"))
        if refund:
            legs.append(ledger.Leg(escrow, ledger.wallet_of(db, order.company_org_id), refund, "voucher_refund",
                                   ("voucher_order", order.id), unique_ref=f"voucher-refund:{order.id}"))
        if legs:
            ledger.transfers(db, actor, legs)
    log.append_event(db, "vouchers.settled", {
        "order_id": order.id, "programme_id": order.programme_id, "used_card_hours": data.used_card_hours,
        "settled_total_fen": actual, "settled_voucher_fen": keep, "evidence_sha256": order.evidence_digest})
    audit.record(db, actor, "vouchers.order.settled", target_type="voucher_order", target_id=order.id,
                 target_org_id=order.company_org_id, used_card_hours=data.used_card_hours)
    inbox.notify(db, CAPABILITY, "Order {order_id} settled on {hours} card-hours used; {refund} fen refunded.",
                 org_id=order.company_org_id, subject=("voucher_order", order.id), link=f"/vouchers/orders/{order.id}",
                 order_id=order.id, hours=data.used_card_hours, refund=refund)
    db.flush()
    return order


# --- reimbursement -------------------------------------------------------------------------------

def contract_id_of(order: ComputeOrder) -> int | None:
    """The exchange contract a data voucher's order subsidised (None for compute)."""
    kind, _, value = order.subject.partition(":")
    return int(value) if kind == "contract" else None


def require_delivered(db: Session, order: ComputeOrder) -> None:
    """A data voucher's claim waits until the exchange shows the contract delivered (or settled)."""
    contract_id = contract_id_of(order)
    if contract_id is None:
        return
    contract = exchange.load_contract(db, contract_id)
    if contract.payment_status not in ("delivered", "settled"):
        raise Conflict("Contract {number} is not delivered yet; claim after delivery.", field="order_id",
                       code="not_delivered", number=contract.number)


def lock_subject(db: Session, order: ComputeOrder) -> None:
    """Before a claim on a contract's subsidy is decided: the contract's row, so a refund of it and
    the decision queue in one order (the refund takes the contract first, too)."""
    contract_id = contract_id_of(order)
    if contract_id is not None:
        payments.lock_contract(db, contract_id)



def claim_reimbursement(db: Session, actor: Actor, blobs: BlobStore, order_id: int, data: schemas.ClaimIn,
                        max_bytes: int) -> Reimbursement:
    """The provider claims the voucher part of a settled order, with its invoice and proof of delivery."""
    order = _order_for(db, actor, order_id, "vouchers.order.deliver", locked=True)
    if order.status != "settled":
        raise Conflict("Report the usage of order {order_id} first.", field="order_id", code="not_settled",
                       order_id=order.id)
    if not order.settled_voucher_fen or order.returned_fen >= order.settled_voucher_fen:
        raise Conflict("No voucher paid for order {order_id}.", field="order_id", code="nothing_to_claim",
                       order_id=order.id)
    existing = db.scalar(select(Reimbursement).where(Reimbursement.order_id == order.id))
    if existing is not None and existing.status != "rejected":
        raise Conflict("Reimbursement of order {order_id} was claimed already.", field="order_id",
                       code="already_claimed", order_id=order.id)
    refuse_broken_trust(db, order.provider_org_id, CLAIM_HELD, "order_id")
    require_delivered(db, order)
    programme = db.get_one(Programme, order.programme_id)
    delivery = decode_file(data.delivery_proof_base64, "delivery_proof_base64", max_bytes)
    payment = b""
    if data.payment_proof_base64:
        payment = decode_file(data.payment_proof_base64, "payment_proof_base64", max_bytes)
    elif programme.require_payment_proof and order.cash_fen:
        raise InvalidInput("The programme requires proof that the company paid its part.",
                           field="payment_proof_base64", code="payment_proof_required")
    claim = existing or Reimbursement(order_id=order.id, programme_id=order.programme_id,
                                      provider_org_id=order.provider_org_id)
    claim.amount_fen = (order.settled_voucher_fen or 0) - order.returned_fen
    claim.invoice_number = data.invoice_number
    claim.delivery_digest = _store(blobs, delivery)
    claim.payment_proof_digest = _store(blobs, payment) if payment else ""
    claim.status, claim.reason, claim.decided_at = "pending", "", None
    db.add(claim)
    db.flush()
    audit.record(db, actor, "vouchers.reimbursement.claimed", target_type="voucher_reimbursement", target_id=claim.id,
                 target_org_id=order.provider_org_id, amount_fen=claim.amount_fen)
    inbox.notify(db, CAPABILITY, "A provider claimed {amount} fen for order {order_id}.",
                 org_id=programme.admin_org_id, subject=("voucher_reimbursement", claim.id),
                 link=f"/vouchers/programmes/{programme.id}", amount=claim.amount_fen, order_id=order.id)
    return claim


def claim_of(db: Session, order_id: int) -> Reimbursement | None:
    return db.scalar(select(Reimbursement).where(Reimbursement.order_id == order_id))


def claims(db: Session, actor: Actor, programme_id: int) -> list[Reimbursement]:
    programme = managed_programme(db, actor, programme_id)
    return list(db.scalars(select(Reimbursement).where(Reimbursement.programme_id == programme.id)
                           .order_by(Reimbursement.status != "pending", Reimbursement.id.desc())))


def decide_claim(db: Session, actor: Actor, claim_id: int, data: schemas.ClaimDecisionIn) -> Reimbursement:
    """The administrator approves (the programme's budget account pays the provider) or rejects."""
    missing = NotFound("Claim {claim_id} does not exist.", field="claim_id", claim_id=claim_id)
    found = db.get(Reimbursement, claim_id)
    if found is None:
        raise missing
    lock_subject(db, db.get_one(ComputeOrder, found.order_id))  # a refund of the contract takes it first too
    claim = lock(db, Reimbursement, claim_id, missing)
    programme = lock(db, Programme, claim.programme_id, missing)
    policy.require(actor, "vouchers.programme.manage", programme_resource(programme.admin_org_id))
    if claim.status != "pending":
        raise Conflict("The claim was decided already ({status}).", field="status", code="claim_decided",
                       status=claim.status)
    claim.decided_at = utcnow()
    if not data.approve:
        if not data.reason.strip():
            raise InvalidInput("Give the provider a reason.", field="reason")
        claim.status, claim.reason = "rejected", data.reason
    else:
        assert programme.budget_account_id is not None
        # with the programme locked: a record against the provider made at the same moment locks
        # the programmes of its orders too (trust.py), so it comes before this read or after the payment
        refuse_broken_trust(db, claim.provider_org_id, APPROVAL_HELD, "claim_id")
        if claim.amount_fen <= 0:  # the contract was refunded meanwhile: its subsidy went back
            raise Conflict("No voucher paid for order {order_id}.", field="order_id", code="nothing_to_claim",
                           order_id=claim.order_id)
        ledger.transfers(db, actor, [ledger.Leg(programme.budget_account_id,
                                                ledger.wallet_of(db, claim.provider_org_id), claim.amount_fen,
                                                "voucher_reimbursement", ("voucher_order", claim.order_id),
                                                unique_ref=f"voucher-reimbursement:{claim.order_id}")])
        programme.reimbursed_fen += claim.amount_fen
        claim.status, claim.reason = "approved", data.reason
        usccs = uscc_of(db, [claim.provider_org_id, programme.admin_org_id])
        entry = log.append_event(db, "vouchers.reimbursed", {
            "order_id": claim.order_id, "programme_id": programme.id, "provider_uscc": usccs[claim.provider_org_id],
            "administrator_uscc": usccs[programme.admin_org_id], "amount_fen": claim.amount_fen,
            "invoice_number": claim.invoice_number})
        claim.log_index = entry.index
    audit.record(db, actor, f"vouchers.reimbursement.{claim.status}", target_type="voucher_reimbursement",
                 target_id=claim.id, target_org_id=claim.provider_org_id)
    inbox.notify(db, CAPABILITY, "Your claim for order {order_id} was {status}.", org_id=claim.provider_org_id,
                 subject=("voucher_reimbursement", claim.id), link=f"/vouchers/orders/{claim.order_id}",
                 order_id=claim.order_id, status=claim.status)
    db.flush()
    return claim


def orders_of(db: Session, actor: Actor) -> list[ComputeOrder]:
    """The organisation's orders: as the company, as the provider, or (an administrator) of its programmes."""
    policy.require(actor, "vouchers.mine")
    mine = select(Programme.id).where(Programme.admin_org_id == actor.org_id)
    return list(db.scalars(select(ComputeOrder).where(
        (ComputeOrder.company_org_id == actor.org_id) | (ComputeOrder.provider_org_id == actor.org_id)
        | ComputeOrder.programme_id.in_(mine)).order_by(ComputeOrder.id.desc()).limit(500)))


def order_json(o: ComputeOrder) -> dict[str, Any]:
    return {"id": o.id, "programme_id": o.programme_id, "offering_id": o.offering_id,
            "provider_org_id": o.provider_org_id, "company_org_id": o.company_org_id, "purpose": o.purpose,
            "month": o.month, "term_months": o.term_months, "card_hours": o.card_hours,
            "price_fen_per_card_hour": o.price_fen_per_card_hour, "total_fen": o.total_fen,
            "voucher_fen": o.voucher_fen, "cash_fen": o.cash_fen, "status": o.status,
            "used_card_hours": o.used_card_hours, "settled_total_fen": o.settled_total_fen,
            "settled_voucher_fen": o.settled_voucher_fen, "returned_fen": o.returned_fen,
            "evidence_sha256": o.evidence_digest or None,
            "log_index": o.log_index}


def claim_json(c: Reimbursement) -> dict[str, Any]:
    return {"id": c.id, "order_id": c.order_id, "programme_id": c.programme_id, "provider_org_id": c.provider_org_id,
            "amount_fen": c.amount_fen, "invoice_number": c.invoice_number, "status": c.status, "reason": c.reason,
            "delivery_sha256": c.delivery_digest, "payment_proof_sha256": c.payment_proof_digest or None,
            "log_index": c.log_index}
