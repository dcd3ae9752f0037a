"""Pledges over certified data assets, and the lookup of a certificate's standing.

Services take ``(db, actor, ...)``, check the policy, never commit. The registry is read only
through its services (a certificate by number, a registration by id). Every pledge event is a
leaf of the public log, signed into a tree head at once so that its inclusion proof exists.

Concurrency: every pledge over an asset first locks that asset's ``finance_assets`` row (made
on first use), so two banks pledging the same asset at once are serialised: the second sees
the first's pledge and is refused when the combined loan-to-value would pass its limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from qianshu.accounts import service as accounts
from qianshu.core import audit, inbox, policy
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import Label, label
from qianshu.core.settings import Settings
from qianshu.core.signing import Ed25519Signer
from qianshu.core.timeutil import SHANGHAI, utcnow
from qianshu.finance import schemas
from qianshu.finance.models import OPEN_STATUSES, EncumberedAsset, LtvLimit, Pledge, PledgeEvent, Valuation
from qianshu.finance.permissions import pledge_resource
from qianshu.finance.settings import FinanceSettings
from qianshu.registry import review
from qianshu.registry import service as registry
from qianshu.translog import service as log

NUMBER = re.compile(r"^QS-DR-\d{4}-\d{6}$")
CAPABILITY = "finance"
ESCALATION = ("Someone tried to revoke or transfer the registration of {number}, which you hold a pledge on "
              "({reason}); it was refused.")


def normalise_number(number: str, field: str = "number") -> str:
    """A certificate number as issued (``QS-DR-2026-000001``); anything else is refused by name."""
    text = number.strip().upper()
    if not NUMBER.match(text):
        raise InvalidInput("The certificate number {value} is not of the form QS-DR-YYYY-NNNNNN.",
                           field=field, code="malformed_number", value=number.strip()[:40])
    return text


@dataclass
class Standing:
    """What anyone may know about a certificate, and what its pledgee and the exchange also see."""

    number: str
    status: str  # valid | revoked | expired | transferred | superseded | cancelled
    encumbered: bool
    open_pledges: int
    holder_org_id: int
    registration_id: int
    title_zh: str = ""
    title_en: str = ""
    valid_until: date | None = None
    revocation_reason: str = ""
    current_number: str | None = None  # a transferred or superseded certificate: the one now current
    pledges: list[Pledge] = field(default_factory=list)  # only those the actor may see
    proofs: dict[int, dict[str, Any]] = field(default_factory=dict)  # event id → proof bundle


def _registration_status(db: Session, number: str) -> tuple[Any, Any, str]:
    cert = review.certificate_by_number(db, number)
    reg = registry.load_registration(db, cert.registration_id)
    if cert.revoked_at is not None or reg.status == "revoked":
        status = "revoked"
    elif reg.status in ("transferred", "superseded", "cancelled"):
        status = reg.status
    elif reg.valid_until is not None and reg.valid_until < utcnow().date():
        status = "expired"
    elif reg.status == "issued":
        status = "valid"
    else:
        status = reg.status
    return cert, reg, status


def registration_standing(db: Session, number: str) -> tuple[Any, str]:
    """The registration a certificate number names, and its standing (``valid``, ``revoked`` ...)."""
    _cert, reg, status = _registration_status(db, number)
    return reg, status


def latest_signed_valuation(db: Session, registration_id: int) -> Valuation | None:
    """The asset's most recent signed valuation: what a pledge's loan-to-value is computed on."""
    return db.scalar(select(Valuation).where(Valuation.registration_id == registration_id,
                                             Valuation.status == "signed")
                     .order_by(Valuation.signed_at.desc(), Valuation.id.desc()).limit(1))


def open_pledges_of(db: Session, registration_id: int) -> list[Pledge]:
    """The open pledges over the asset: over this certificate, and over the ones its changes and
    renewals replaced (a renewal does not free a pledged asset; the pledge stays on the number the
    bank registered it under, and follows the asset)."""
    return list(db.scalars(select(Pledge).where(Pledge.registration_id.in_(registry.same_asset_before(
        db, registration_id)), Pledge.status.in_(OPEN_STATUSES)).order_by(Pledge.id)))


def standing(db: Session, actor: Actor, number: str) -> Standing:
    """The lookup: valid, revoked or encumbered for anyone; pledges, history and proofs for
    whoever may read them (each pledge is checked on its own)."""
    policy.require(actor, "finance.lookup")
    number = normalise_number(number)
    cert, reg, status = _registration_status(db, number)
    open_count = len(open_pledges_of(db, reg.id))
    current = registry.current_of(db, reg.id) if status in ("transferred", "superseded") else None
    found = Standing(number, status, open_count > 0, open_count, reg.holder_org_id, reg.id, reg.title_zh,
                     reg.title_en, reg.valid_until, cert.revocation_reason, current.number if current else None)
    every = db.scalars(select(Pledge).options(selectinload(Pledge.events))
                       .where(Pledge.registration_id.in_(registry.same_asset_before(db, reg.id))).order_by(Pledge.id))
    found.pledges = [p for p in every if policy.allows(actor, "finance.pledge.read",
                                                       pledge_resource(p.pledgor_org_id, p.pledgee_org_id))]
    for pledge in found.pledges:
        for event in pledge.events:
            bundle = log.proof_bundle(db, log.get_leaf(db, event.log_index))
            if bundle is not None:
                found.proofs[event.id] = bundle
    return found


def standing_json(found: Standing) -> dict[str, Any]:
    return {
        "number": found.number, "status": found.status, "encumbered": found.encumbered,
        "open_pledges": found.open_pledges, "valid_until": found.valid_until.isoformat() if found.valid_until else None,
        "revocation_reason": found.revocation_reason, "current_number": found.current_number,
        "pledges": [dict(pledge_json(p), events=[dict(event_json(e), proof=found.proofs.get(e.id))
                                                 for e in p.events]) for p in found.pledges],
    }


def pledge_json(p: Pledge) -> dict[str, Any]:
    return {"id": p.id, "certificate_number": p.certificate_number, "status": p.status,
            "pledgee_org_id": p.pledgee_org_id, "pledgor_org_id": p.pledgor_org_id,
            "secured_fen": p.secured_fen, "appraised_fen": p.appraised_fen, "value_source": p.value_source,
            "valuation_id": p.valuation_id,
            "ltv_bp": p.ltv_bp, "ltv_limit_bp": p.ltv_limit_bp, "interest_bp": p.interest_bp,
            "term_months": p.term_months, "starts_on": p.starts_on.isoformat(),
            "matures_on": p.matures_on.isoformat(), "risk_pool_bp": p.risk_pool_bp,
            "external_registry": p.external_registry, "external_number": p.external_number,
            "confirmed_at": p.confirmed_at.isoformat() if p.confirmed_at else None,
            "closed_at": p.closed_at.isoformat() if p.closed_at else None, "close_reason": p.close_reason}


def event_json(e: PledgeEvent) -> dict[str, Any]:
    return {"id": e.id, "action": e.action, "details": e.details, "log_index": e.log_index,
            "leaf_hash": e.leaf_hash, "at": e.created_at.isoformat()}


# --- limits ------------------------------------------------------------------------------------

def ltv_limit(db: Session, settings: Settings, bank_org_id: int, industry_code: str) -> int:
    """The bank's limit for the asset's category: its division ("G54"), its section ("G"), the
    bank's default (""), else the exchange's default (``[finance] default_ltv_limit_bp``)."""
    candidates = list(dict.fromkeys((industry_code, industry_code[:1], "")))
    limits = {row.category: row.limit_bp for row in db.scalars(
        select(LtvLimit).where(LtvLimit.bank_org_id == bank_org_id, LtvLimit.category.in_(candidates)))}
    for category in candidates:
        if category in limits:
            return limits[category]
    return settings.section(FinanceSettings).default_ltv_limit_bp


def set_ltv_limit(db: Session, actor: Actor, data: schemas.LtvLimitIn) -> LtvLimit:
    policy.require(actor, "finance.ltv.set")
    row = db.scalar(select(LtvLimit).where(LtvLimit.bank_org_id == actor.org_id,
                                           LtvLimit.category == data.category))
    if row is None:
        row = LtvLimit(bank_org_id=actor.org_id, category=data.category, limit_bp=data.limit_bp)
        db.add(row)
    row.limit_bp = data.limit_bp
    audit.record(db, actor, "finance.ltv_limit_set", target_type="organisation", target_id=actor.org_id,
                 target_org_id=actor.org_id, category=data.category, limit_bp=data.limit_bp)
    db.flush()
    return row


def ltv_limits(db: Session, actor: Actor) -> list[LtvLimit]:
    policy.require(actor, "finance.portfolio")
    return list(db.scalars(select(LtvLimit).where(LtvLimit.bank_org_id == actor.org_id)
                           .order_by(LtvLimit.category)))


# --- pledges -----------------------------------------------------------------------------------

def lock_asset(db: Session, registration_id: int, number: str) -> EncumberedAsset:
    """Lock the asset's row (made on first use; a concurrent maker's row is taken instead)."""
    asset = db.get(EncumberedAsset, registration_id, with_for_update=True)
    if asset is None:
        try:
            with db.begin_nested():
                db.add(EncumberedAsset(registration_id=registration_id, certificate_number=number))
        except IntegrityError:
            pass  # another transaction made it first: its lock is taken below, once it commits
        asset = db.get_one(EncumberedAsset, registration_id, with_for_update=True, populate_existing=True)
    asset.version += 1
    return asset


def record_event(db: Session, actor: Actor, signer: Ed25519Signer, pledge: Pledge, action: str,
            details: dict[str, Any]) -> PledgeEvent:
    """The event as a leaf of the public log (facts only: numbers, amounts, the banks' USCCs)."""
    orgs = accounts.organisations_by_id(db, [pledge.pledgee_org_id, pledge.pledgor_org_id])
    payload = {"pledge_id": pledge.id, "number": pledge.certificate_number,
               "pledgee_uscc": orgs[pledge.pledgee_org_id].uscc, "pledgor_uscc": orgs[pledge.pledgor_org_id].uscc,
               "status": pledge.status, **details}
    entry = log.append_event(db, f"finance.pledge.{action}", payload)
    event = PledgeEvent(pledge_id=pledge.id, action=action, actor_user_id=actor.user_id, actor_org_id=actor.org_id,
                        details=details, log_index=entry.index, leaf_hash=entry.leaf_hash)
    db.add(event)
    audit.record(db, actor, f"finance.pledge.{action}", target_type="pledge", target_id=pledge.id,
                 target_org_id=pledge.pledgor_org_id)
    db.flush()
    log.sign_tree_head(db, signer)  # the lookup shows the event's inclusion proof at once
    return event


def _check_ltv(db: Session, pledge_id: int | None, registration_id: int, secured_fen: int, appraised_fen: int,
               limit_bp: int) -> None:
    others = db.scalar(select(func.coalesce(func.sum(Pledge.secured_fen), 0)).where(
        Pledge.registration_id.in_(registry.same_asset_before(db, registration_id)), Pledge.status.in_(OPEN_STATUSES),
        Pledge.id != (pledge_id or 0))) or 0
    combined = int(others) + secured_fen
    if combined * 10_000 > appraised_fen * limit_bp:
        raise InvalidInput("The secured amount would bring the asset's loan-to-value to {ltv} %, above the "
                           "limit of {limit} % (already pledged: {pledged} yuan).", field="secured_fen",
                           code="ltv_above_limit", ltv=f"{combined * 100 / appraised_fen:.1f}",
                           limit=f"{limit_bp / 100:g}", pledged=f"{int(others) / 100:,.2f}")


def _add_months(start: date, months: int) -> date:
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    for day in (start.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def create_pledge(db: Session, actor: Actor, settings: Settings, signer: Ed25519Signer,
                  data: schemas.PledgeIn) -> Pledge:
    policy.require(actor, "finance.pledge.create")
    number = normalise_number(data.certificate_number, "certificate_number")
    _cert, reg, status = _registration_status(db, number)
    if status != "valid":
        raise Conflict("The certificate {number} is {status}; only a valid certificate can be pledged.",
                       field="certificate_number", code="not_pledgeable", number=number,
                       status=Label("certificate standing", status))
    if reg.holder_org_id != data.pledgor_org_id:
        raise Conflict("The certificate {number} is not held by the pledgor you named.",
                       field="pledgor_org_id", code="not_the_holder", number=number)
    if (data.external_registry == "") != (data.external_number == ""):
        raise InvalidInput("An external pledge needs both the registry and its registration number.",
                           field="external_number")
    lock_asset(db, reg.id, number)
    # under the lock, which an enforcement by transfer or a forced sale's settlement holds too
    if (transfer := registry.transfer_under_way(db, reg.id)) is not None:
        raise Conflict("The rights to the asset of certificate {number} are passing to another holder (transfer "
                       "registration {transfer} is before the exchange); it cannot be pledged until that is decided.",
                       field="certificate_number", code="transfer_under_way", number=number, transfer=transfer.id)
    limit = ltv_limit(db, settings, actor.org_id or 0, reg.industry_code)
    valuation = latest_signed_valuation(db, reg.id)
    if valuation is not None and valuation.value_fen:
        # a signed valuation exists: it is the value, whatever the bank typed
        appraised, source = valuation.value_fen, "valuation"
    elif data.appraised_fen is None:
        raise InvalidInput("The asset has no signed valuation: give the appraised value.", field="appraised_fen")
    else:
        appraised, source = data.appraised_fen, "entered"
    _check_ltv(db, None, reg.id, data.secured_fen, appraised, limit)
    today = utcnow().astimezone(SHANGHAI).date()  # a loan starts on the day in China, where it is made
    pledge = Pledge(registration_id=reg.id, certificate_number=number, pledgee_org_id=actor.org_id,
                    pledgor_org_id=reg.holder_org_id, secured_fen=data.secured_fen, appraised_fen=appraised,
                    value_source=source, valuation_id=valuation.id if source == "valuation" and valuation else None,
                    ltv_limit_bp=limit, interest_bp=data.interest_bp, term_months=data.term_months,
                    starts_on=today, matures_on=_add_months(today, data.term_months), risk_pool_bp=data.risk_pool_bp,
                    product_category=reg.industry_code, external_registry=data.external_registry,
                    external_number=data.external_number, created_by=actor.user_id, status="pending")
    db.add(pledge)
    db.flush()
    record_event(db, actor, signer, pledge, "registered", {
        "secured_fen": pledge.secured_fen, "appraised_fen": pledge.appraised_fen, "ltv_limit_bp": limit,
        "value_source": source, "valuation_id": pledge.valuation_id,
        "interest_bp": pledge.interest_bp, "matures_on": pledge.matures_on.isoformat(),
        "risk_pool_bp": pledge.risk_pool_bp, "external_registry": pledge.external_registry,
        "external_number": pledge.external_number})
    inbox.notify(db, CAPABILITY, "A bank registered a pledge over your certificate {number}; please confirm it.",
                 org_id=pledge.pledgor_org_id, subject=("pledge", pledge.id),
                 link=f"/finance/lookup?number={number}", number=number)
    return pledge


def managed_pledge(db: Session, actor: Actor, pledge_id: int, action: str) -> Pledge:
    pledge = db.get(Pledge, pledge_id)
    missing = NotFound("Pledge {id} does not exist.", id=pledge_id)
    if pledge is None:
        raise missing
    resource = pledge_resource(pledge.pledgor_org_id, pledge.pledgee_org_id)
    if not policy.allows(actor, "finance.pledge.read", resource):
        policy.require(actor, action, resource, hidden=missing)
    policy.require(actor, action, resource)
    lock_asset(db, pledge.registration_id, pledge.certificate_number)
    db.refresh(pledge)  # the status as the lock holder left it
    return pledge


def certificate_of_pledge(db: Session, actor: Actor, pledge_id: int) -> str:
    """The certificate a pledge is over, for one who may see the pledge (the pledge's forms are on
    that certificate's lookup page); otherwise the pledge does not exist, as its functions answer."""
    pledge = db.get(Pledge, pledge_id)
    if pledge is None or not policy.allows(actor, "finance.pledge.read",
                                           pledge_resource(pledge.pledgor_org_id, pledge.pledgee_org_id)):
        raise NotFound("Pledge {id} does not exist.", id=pledge_id)
    return pledge.certificate_number


def pledge_by_id(db: Session, pledge_id: int) -> Pledge:
    return db.get_one(Pledge, pledge_id)


def require_status(pledge: Pledge, *allowed: str) -> None:
    if pledge.status not in allowed:
        raise Conflict("The pledge is {status}; this cannot be done now.", field="status",
                       code="pledge_status", status=Label("pledge status", pledge.status))


def confirm_pledge(db: Session, actor: Actor, signer: Ed25519Signer, pledge_id: int) -> Pledge:
    pledge = managed_pledge(db, actor, pledge_id, "finance.pledge.confirm")
    require_status(pledge, "pending")
    pledge.status, pledge.confirmed_at = "active", utcnow()
    record_event(db, actor, signer, pledge, "confirmed", {})
    inbox.notify(db, CAPABILITY, "The holder confirmed the pledge over {number}.", org_id=pledge.pledgee_org_id,
                 subject=("pledge", pledge.id), link=f"/finance/lookup?number={pledge.certificate_number}",
                 number=pledge.certificate_number)
    return pledge


def amend_pledge(db: Session, actor: Actor, settings: Settings, signer: Ed25519Signer, pledge_id: int,
                 data: schemas.AmendIn) -> Pledge:
    pledge = managed_pledge(db, actor, pledge_id, "finance.pledge.manage")
    require_status(pledge, "pending", "active")
    changes = {k: v for k, v in data.model_dump(exclude={"reason"}).items() if v is not None}
    if not changes:
        raise InvalidInput("Say what changes: the secured amount, the interest rate or the term.",
                           field="secured_fen")
    if "secured_fen" in changes:
        _check_ltv(db, pledge.id, pledge.registration_id, changes["secured_fen"], pledge.appraised_fen,
                   pledge.ltv_limit_bp)
    for key, value in changes.items():
        setattr(pledge, key, value)
    if "term_months" in changes:
        pledge.matures_on = _add_months(pledge.starts_on, pledge.term_months)
    record_event(db, actor, signer, pledge, "amended", {**changes, "reason": data.reason})
    inbox.notify(db, CAPABILITY, "The pledge over {number} was amended by the bank.", org_id=pledge.pledgor_org_id,
                 subject=("pledge", pledge.id), link=f"/finance/lookup?number={pledge.certificate_number}",
                 number=pledge.certificate_number)
    return pledge


def _party(db: Session, actor: Actor, pledge_id: int) -> tuple[Pledge, str]:
    """The pledge and the actor's side of it: ``pledgee`` (its bank) or ``pledgor`` (the holder)."""
    pledge = db.get(Pledge, pledge_id)
    missing = NotFound("Pledge {id} does not exist.", id=pledge_id)
    if pledge is None:
        raise missing
    resource = pledge_resource(pledge.pledgor_org_id, pledge.pledgee_org_id)
    if policy.allows(actor, "finance.pledge.manage", resource):
        side = "pledgee"
    elif policy.allows(actor, "finance.pledge.confirm", resource):
        side = "pledgor"
    else:
        if not policy.allows(actor, "finance.pledge.read", resource):
            raise missing
        policy.require(actor, "finance.pledge.manage", resource)  # refused, with its reason
        raise AssertionError("unreachable")  # pragma: no cover
    lock_asset(db, pledge.registration_id, pledge.certificate_number)
    db.refresh(pledge)
    return pledge, side


def propose_amendment(db: Session, actor: Actor, pledge_id: int, data: schemas.AmendIn) -> Pledge:
    """Either party proposes a new secured amount, rate or term; the other must agree."""
    pledge, side = _party(db, actor, pledge_id)
    require_status(pledge, "pending", "active")
    changes = {k: v for k, v in data.model_dump(exclude={"reason"}).items() if v is not None}
    if not changes:
        raise InvalidInput("Say what changes: the secured amount, the interest rate or the term.",
                           field="secured_fen")
    if "secured_fen" in changes:  # refused now rather than when the other party agrees
        _check_ltv(db, pledge.id, pledge.registration_id, changes["secured_fen"], pledge.appraised_fen,
                   pledge.ltv_limit_bp)
    pledge.proposed_amendment = {"changes": changes, "by": side, "by_org_id": actor.org_id, "reason": data.reason}
    other = pledge.pledgor_org_id if side == "pledgee" else pledge.pledgee_org_id
    inbox.notify(db, CAPABILITY, "An amendment of the pledge over {number} awaits your agreement.", org_id=other,
                 subject=("pledge", pledge.id), link=f"/finance/lookup?number={pledge.certificate_number}",
                 number=pledge.certificate_number)
    db.flush()
    return pledge


def decide_amendment(db: Session, actor: Actor, settings: Settings, signer: Ed25519Signer, pledge_id: int,
                     agree: bool) -> Pledge:
    """The other party agrees (the pledge is amended, a leaf of the log) or declines (it is dropped);
    the proposer may withdraw it by declining too."""
    pledge, side = _party(db, actor, pledge_id)
    proposal = dict(pledge.proposed_amendment or {})
    if not proposal:
        raise Conflict("No amendment of this pledge is pending.", field="status", code="no_amendment")
    if agree and proposal.get("by") == side:
        raise Conflict("The other party must agree to the amendment.", field="status", code="own_amendment")
    pledge.proposed_amendment = {}
    if not agree:
        db.flush()
        return pledge
    require_status(pledge, "pending", "active")
    changes = proposal["changes"]
    if "secured_fen" in changes:
        _check_ltv(db, pledge.id, pledge.registration_id, changes["secured_fen"], pledge.appraised_fen,
                   pledge.ltv_limit_bp)
    for key, value in changes.items():
        setattr(pledge, key, value)
    if "term_months" in changes:
        pledge.matures_on = _add_months(pledge.starts_on, pledge.term_months)
    record_event(db, actor, signer, pledge, "amended", {**changes, "reason": proposal.get("reason", ""),
                                                   "agreed_by": ["pledgee", "pledgor"]})
    other = pledge.pledgor_org_id if side == "pledgee" else pledge.pledgee_org_id
    inbox.notify(db, CAPABILITY, "The amendment of the pledge over {number} was agreed.", org_id=other,
                 subject=("pledge", pledge.id), link=f"/finance/lookup?number={pledge.certificate_number}",
                 number=pledge.certificate_number)
    return pledge


def release_pledge(db: Session, actor: Actor, signer: Ed25519Signer, pledge_id: int, reason: str = "") -> Pledge:
    """Repaid (or withdrawn before confirmation): the asset is free of this pledge."""
    pledge = managed_pledge(db, actor, pledge_id, "finance.pledge.manage")
    require_status(pledge, "pending", "active")
    pledge.status, pledge.closed_at, pledge.close_reason = "released", utcnow(), reason
    record_event(db, actor, signer, pledge, "released", {"reason": reason})
    inbox.notify(db, CAPABILITY, "The pledge over {number} was released.", org_id=pledge.pledgor_org_id,
                 subject=("pledge", pledge.id), link=f"/finance/lookup?number={pledge.certificate_number}",
                 number=pledge.certificate_number)
    return pledge


def enforce_pledge(db: Session, actor: Actor, signer: Ed25519Signer, pledge_id: int, reason: str,
                   mode: str = "record") -> Pledge:
    """The borrower defaulted: the pledge is closed as enforced and stays on the asset's history.
    ``mode="transfer"``: the rights pass to the bank through the registry's transfer (submitted at
    once for the exchange's review, notice and issue; another bank's open pledge still blocks its
    issue). ``"record"``: the enforcement is only recorded."""
    pledge = managed_pledge(db, actor, pledge_id, "finance.pledge.manage")
    require_status(pledge, "active")
    if mode not in ("record", "transfer"):  # a forced sale is finance.sale's
        raise InvalidInput("{field} must be one of: {expected}.", field="mode", expected="record, transfer")
    if not reason.strip():
        raise InvalidInput("Say why the pledge is enforced.", field="reason")
    pledge.status, pledge.closed_at, pledge.close_reason = "enforced", utcnow(), reason
    details: dict[str, Any] = {"reason": reason, "mode": mode}
    if mode == "transfer":
        transfer = review.start_enforced_transfer(db, actor, pledge.registration_id, pledge.pledgee_org_id, reason)
        details["transfer_registration_id"] = transfer.id
    record_event(db, actor, signer, pledge, "enforced", details)
    inbox.notify(db, CAPABILITY, "The bank recorded the enforcement of its pledge over {number}.",
                 org_id=pledge.pledgor_org_id, subject=("pledge", pledge.id),
                 link=f"/finance/lookup?number={pledge.certificate_number}", number=pledge.certificate_number)
    return pledge


def portfolio(db: Session, actor: Actor) -> list[Pledge]:
    """The bank's pledges, soonest maturity first, open ones before closed ones."""
    policy.require(actor, "finance.portfolio")
    rows = db.scalars(select(Pledge).where(Pledge.pledgee_org_id == actor.org_id)
                      .order_by(Pledge.matures_on, Pledge.id))
    return sorted(rows, key=lambda p: p.status not in OPEN_STATUSES)


SUPERSEDED = "The registration of {number}, which you hold a pledge on, was replaced ({kind}): {successor}."


def tell_pledgees_of_successor(db: Session, registration_id: int, successor_id: int, kind: str) -> int:
    """The pledged certificate is no longer the asset's current one: its banks should look."""
    pledges = open_pledges_of(db, registration_id)
    successor = registry.find_registration(db, successor_id)
    for pledge in pledges:
        inbox.notify(db, CAPABILITY, SUPERSEDED, org_id=pledge.pledgee_org_id, subject=("pledge", pledge.id),
                     link=f"/finance/lookup?number={pledge.certificate_number}", number=pledge.certificate_number,
                     kind_zh=label(kind, "registration type", "zh"), kind_en=label(kind, "registration type", "en"),
                     successor=(successor.number if successor is not None else None) or str(successor_id))
    return len(pledges)


def block_revocation(db: Session, registration_id: int, reason: str) -> None:
    """A registration with open pledges cannot be revoked, cancelled or transferred: refused,
    and each pledgee is told (in the inbox, after the refused transaction has rolled back)."""
    pledges = open_pledges_of(db, registration_id)
    if not pledges:
        return
    number = pledges[0].certificate_number
    _escalate_after_rollback(db, [(p.pledgee_org_id, p.id) for p in pledges], number, reason)
    raise Conflict("The certificate {number} is pledged to {count} bank(s); the pledgee must release it first. "
                   "The pledgee has been told.", field="registration_id", code="pledged", number=number,
                   count=len(pledges))


def _escalate_after_rollback(db: Session, pledgees: list[tuple[int, int]], number: str, reason: str) -> None:
    from sqlalchemy import event as sa_event

    database = db.info.get("database")
    if database is None:
        return

    told = False

    def tell(session: Session, transaction: Any) -> None:
        nonlocal told
        if told or transaction.parent is not None:
            return
        told = True  # (a listener cannot remove itself while the session runs its listeners)
        with database.unit_of_work() as other:
            for org_id, pledge_id in pledgees:
                # A transfer due for issue is retried every few minutes: one unread notice is enough.
                if other.scalar(select(inbox.Notification.id).where(
                        inbox.Notification.org_id == org_id, inbox.Notification.subject_type == "pledge",
                        inbox.Notification.subject_id == pledge_id, inbox.Notification.message == ESCALATION,
                        inbox.Notification.read_at.is_(None)).limit(1)) is not None:
                    continue
                inbox.notify(other, CAPABILITY, ESCALATION, org_id=org_id,
                             subject=("pledge", pledge_id), link=f"/finance/lookup?number={number}",
                             number=number, reason=reason[:200])

    sa_event.listen(db, "after_transaction_end", tell)
