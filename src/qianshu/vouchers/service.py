"""Compute vouchers: offerings, programmes, applications and the issuance of vouchers.

Services take ``(db, actor, ...)``, check the policy, never commit. Orders, settlement and
reimbursement are in ``redemption.py``; the dashboards in ``statistics.py``.

Concurrency: issuing vouchers locks the programme's row (``SELECT … FOR UPDATE`` on PostgreSQL;
SQLite has one writer), so two approvals at once cannot commit more than the budget; a CHECK
(``committed_fen <= budget_fen``) holds even if a bug did not. Every issuance is a leaf of the
public log, written in the same transaction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import audit, inbox, policy
from qianshu.core.actor import Actor
from qianshu.core.db import Base
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import N_
from qianshu.core.timeutil import SHANGHAI, utcnow
from qianshu.ledger import service as ledger
from qianshu.translog import service as log
from qianshu.vouchers import schemas
from qianshu.vouchers.models import Application, BrokenTrust, Offering, Programme, RelatedParties, Voucher
from qianshu.vouchers.permissions import programme_resource

CAPABILITY = "vouchers"
M = TypeVar("M", bound=Base)


def today() -> date:
    """Days are Asia/Shanghai days (a voucher valid to 30 November is valid all that day in China)."""
    return utcnow().astimezone(SHANGHAI).date()


def lock(db: Session, model: type[M], row_id: int, missing: NotFound) -> M:
    """The row, locked for the rest of the transaction (PostgreSQL; SQLite has one writer), as
    the lock holder left it."""
    row = db.get(model, row_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise missing
    return row


def missing_programme(programme_id: int) -> NotFound:
    return NotFound("Programme {programme_id} does not exist.", field="programme_id", programme_id=programme_id)


def uscc_of(db: Session, org_ids: list[int]) -> dict[int, str]:
    return {i: o.uscc for i, o in accounts.organisations_by_id(db, org_ids).items()}


# --- offerings and the directory -------------------------------------------------------------------

def publish_offering(db: Session, actor: Actor, data: schemas.OfferingIn) -> Offering:
    policy.require(actor, "vouchers.offering.publish")
    offering = Offering(provider_org_id=actor.org_id, **data.model_dump())
    db.add(offering)
    db.flush()
    audit.record(db, actor, "vouchers.offering.published", target_type="offering", target_id=offering.id,
                 target_org_id=actor.org_id)
    return offering


def get_offering(db: Session, offering_id: int) -> Offering:
    found = db.get(Offering, offering_id)
    if found is None or not found.active:
        raise NotFound("Offering {offering_id} does not exist.", field="offering_id", offering_id=offering_id)
    return found


def offerings(db: Session, actor: Actor) -> list[Offering]:
    policy.require(actor, "vouchers.directory")
    return list(db.scalars(select(Offering).where(Offering.active.is_(True))
                           .order_by(Offering.provider_org_id, Offering.id)))


def directory(db: Session, actor: Actor) -> dict[str, Any]:
    """The public directory: every provider with its offerings, and the province's declared capacity."""
    found = offerings(db, actor)
    orgs = accounts.organisations_by_id(db, {o.provider_org_id for o in found})
    providers: dict[int, dict[str, Any]] = {}
    for o in found:
        org = orgs[o.provider_org_id]
        entry = providers.setdefault(o.provider_org_id, {
            "org_id": org.id, "name": org.name, "name_en": org.name_en, "uscc": org.uscc,
            "offerings": [], "declared_tflops": 0, "card_hours_per_month": 0})
        entry["offerings"].append(offering_json(o))
        entry["declared_tflops"] += o.declared_tflops
        entry["card_hours_per_month"] += o.card_hours_per_month
    by_precision: dict[str, int] = {}
    for o in found:
        by_precision[o.precision] = by_precision.get(o.precision, 0) + o.declared_tflops
    return {"providers": list(providers.values()), "total_declared_tflops": by_precision,
            "total_card_hours_per_month": sum(o.card_hours_per_month for o in found)}


def offering_json(o: Offering) -> dict[str, Any]:
    return {"id": o.id, "provider_org_id": o.provider_org_id, "data_centre": o.data_centre,
            "division_code": o.division_code, "accelerator": o.accelerator, "card_count": o.card_count,
            "card_hours_per_month": o.card_hours_per_month, "price_fen_per_card_hour": o.price_fen_per_card_hour,
            "service_kind": o.service_kind, "declared_tflops": o.declared_tflops, "precision": o.precision}


# --- programmes ----------------------------------------------------------------------------------

def _validate_programme(db: Session, data: schemas.ProgrammeIn) -> None:
    """Everything about a programme that one field cannot say alone; each refusal names its field."""
    if data.ends_on <= data.starts_on:
        raise InvalidInput("The programme must end after it starts.", field="ends_on", code="period_reversed")
    faces = data.face_values_fen
    if any(f <= 0 for f in faces) or len(set(faces)) != len(faces):
        raise InvalidInput("Face values must be positive amounts, each given once.", field="face_values_fen")
    largest = max(faces)
    caps = (("cap_contract_fen", data.cap_contract_fen), ("cap_company_year_fen", data.cap_company_year_fen))
    for field, cap in caps:
        if cap < largest:
            raise InvalidInput("{field} ({cap} fen) is below the largest face value ({face} fen).", field=field,
                               code="cap_below_face_value", cap=cap, face=largest)
    if data.budget_fen < largest:
        raise InvalidInput("The budget is smaller than one voucher.", field="budget_fen", code="budget_too_small")
    orgs = accounts.organisations_by_id(db, data.provider_org_ids)
    # a data voucher pays data merchants (the exchange's sellers); the others, compute providers
    kinds = policy.MERCHANT_ORG_TYPES if data.kind == "data" else ("compute_provider",)
    bad = [i for i in data.provider_org_ids if i not in orgs or orgs[i].org_type not in kinds
           or orgs[i].status != "approved"]
    if bad:
        raise InvalidInput("Not approved providers of this kind of programme: {ids}.", field="provider_org_ids",
                           code="not_a_provider", ids=", ".join(map(str, bad)))
    excluded = set(data.excluded_org_ids)
    unknown = sorted(excluded - set(accounts.organisations_by_id(db, excluded)))
    if unknown:
        raise InvalidInput("These organisations do not exist: {ids}.", field="excluded_org_ids",
                           code="unknown_organisation", ids=", ".join(map(str, unknown)))
    for other in db.scalars(select(Programme).where(Programme.kind == data.kind, Programme.starts_on <= data.ends_on,
                                                    Programme.ends_on >= data.starts_on)):
        shared = set(other.provider_org_ids) & set(data.provider_org_ids)
        if shared:
            raise Conflict("The period overlaps programme {id} ({name}) of the same kind with the same providers "
                           "({count}); a bill would be subsidised twice.", field="starts_on",
                           code="overlapping_programme", id=other.id, name=other.name_zh, count=len(shared))


def create_programme(db: Session, actor: Actor, data: schemas.ProgrammeIn) -> Programme:
    """A programme, its budget moved from the administrator's wallet to the programme's account."""
    policy.require(actor, "vouchers.programme.create")
    assert actor.org_id is not None
    _validate_programme(db, data)
    programme = Programme(admin_org_id=actor.org_id, **data.model_dump())
    programme.face_values_fen = sorted(data.face_values_fen)
    programme.excluded_org_ids = sorted(set(data.excluded_org_ids))
    db.add(programme)
    db.flush()
    # each exclusion is a broken-trust record of the administrator's (all its programmes), which it
    # can lift later (trust.py); one in force already stays as it is
    for org_id in programme.excluded_org_ids:
        if not db.scalar(select(BrokenTrust.id).where(BrokenTrust.admin_org_id == actor.org_id,
                                                      BrokenTrust.org_id == org_id, BrokenTrust.lifted_at.is_(None))):
            db.add(BrokenTrust(admin_org_id=actor.org_id, programme_id=programme.id, org_id=org_id, source="",
                               reason=""))
    account = ledger.open_account(db, kind="escrow", owner_org_id=actor.org_id,
                                  reference=f"voucher-programme-{programme.id}")
    ledger.transfers(db, actor, [ledger.Leg(ledger.wallet_of(db, actor.org_id), account, data.budget_fen,
                                            "voucher_budget", ("voucher_programme", programme.id),
                                            memo=data.name_zh, unique_ref=f"voucher-budget:{programme.id}")],
                     field="budget_fen")
    programme.budget_account_id = account.id
    audit.record(db, actor, "vouchers.programme.created", target_type="voucher_programme", target_id=programme.id,
                 target_org_id=actor.org_id, budget_fen=data.budget_fen)
    db.flush()
    return programme


def programmes(db: Session, actor: Actor) -> list[Programme]:
    policy.require(actor, "vouchers.directory")
    return list(db.scalars(select(Programme).order_by(Programme.starts_on.desc(), Programme.id.desc())))


def get_programme(db: Session, actor: Actor, programme_id: int) -> Programme:
    policy.require(actor, "vouchers.directory")
    found = db.get(Programme, programme_id)
    if found is None:
        raise NotFound("Programme {programme_id} does not exist.", field="programme_id", programme_id=programme_id)
    return found


def managed_programme(db: Session, actor: Actor, programme_id: int, *, locked: bool = False) -> Programme:
    missing = NotFound("Programme {programme_id} does not exist.", field="programme_id", programme_id=programme_id)
    found = lock(db, Programme, programme_id, missing) if locked else db.get(Programme, programme_id)
    if found is None:
        raise missing
    policy.require(actor, "vouchers.programme.manage", programme_resource(found.admin_org_id))
    return found


def programme_json(p: Programme) -> dict[str, Any]:
    return {"id": p.id, "admin_org_id": p.admin_org_id, "name_zh": p.name_zh, "name_en": p.name_en, "kind": p.kind,
            "budget_fen": p.budget_fen, "committed_fen": p.committed_fen, "remaining_fen": p.remaining_fen,
            "reimbursed_fen": p.reimbursed_fen, "starts_on": p.starts_on.isoformat(), "ends_on": p.ends_on.isoformat(),
            "eligible_division": p.eligible_division, "eligible_sizes": p.eligible_sizes,
            "eligible_purposes": p.eligible_purposes, "ratio_bp": p.ratio_bp,
            "cap_company_year_fen": p.cap_company_year_fen, "cap_contract_fen": p.cap_contract_fen,
            "face_values_fen": p.face_values_fen, "voucher_valid_days": p.voucher_valid_days,
            "max_term_months": p.max_term_months, "one_voucher_per_contract": p.one_voucher_per_contract,
            "require_payment_proof": p.require_payment_proof, "provider_org_ids": p.provider_org_ids,
            "returned_fen": p.returned_fen, "closed_at": p.closed_at.isoformat() if p.closed_at else None}


def are_related(db: Session, admin_org_id: int, one: int, other: int) -> bool:
    """Whether no voucher of the administrator's programmes pays between the two: the same USCC, or
    a mark of the administrator's in force (whichever programme it was made through)."""
    a, b = sorted((one, other))
    if a == b:
        return True
    if db.scalar(select(RelatedParties.id).where(RelatedParties.admin_org_id == admin_org_id,
                                                 RelatedParties.org_a_id == a, RelatedParties.org_b_id == b,
                                                 RelatedParties.unmarked_at.is_(None)).limit(1)):
        return True
    usccs = uscc_of(db, [a, b])
    return usccs.get(a) is not None and usccs.get(a) == usccs.get(b)


def broken_trust_in_force(db: Session, org_id: int) -> BrokenTrust | None:
    """The oldest broken-trust record of the organisation in force, whichever administrator made it
    (trust.py): shared by every administrator (联合惩戒, docs/vouchers.md), it stops the organisation
    applying to, being issued vouchers of and spending vouchers of any programme until lifted."""
    return db.scalars(select(BrokenTrust).where(BrokenTrust.org_id == org_id, BrokenTrust.lifted_at.is_(None))
                      .order_by(BrokenTrust.recorded_at, BrokenTrust.id).limit(1)).first()


def refuse_broken_trust(db: Session, org_id: int, message: str, field: str) -> None:
    """A bilingual 409 ``broken_trust`` naming the record in force (who made it, when, its source),
    if there is one. ``message`` is one of the catalogue's, taking ``administrator``, ``day`` and
    ``source``."""
    found = broken_trust_in_force(db, org_id)
    if found is None:
        return
    admin = accounts.organisations_by_id(db, [found.admin_org_id])[found.admin_org_id]
    raise Conflict(message, field=field, code="broken_trust", administrator=admin.name,
                   day=found.recorded_at.astimezone(SHANGHAI).date().isoformat(), source=found.source or "—")


# --- applications and issuance -------------------------------------------------------------------

def apply(db: Session, actor: Actor, programme_id: int, data: schemas.ApplicationIn) -> Application:
    policy.require(actor, "vouchers.apply")
    assert actor.org_id is not None
    programme = get_programme(db, actor, programme_id)
    if today() > programme.ends_on:
        raise Conflict("The programme ended on {day}.", field="programme_id", code="programme_ended",
                       day=programme.ends_on.isoformat())
    org = accounts.organisations_by_id(db, [actor.org_id])[actor.org_id]
    refuse_broken_trust(db, actor.org_id, N_("Your organisation has a broken-trust record in force, made by "
                        "{administrator} on {day} (source: {source}); no voucher programme takes its applications "
                        "until it is lifted."), "programme_id")
    registered = org.uscc[2:8]
    if not (policy.within(programme.eligible_division, registered)
            and policy.within(programme.eligible_division, org.division_code)):
        raise Conflict("The programme is for companies registered in {division}; yours is registered in {found}.",
                       field="programme_id", code="region_not_eligible", division=programme.eligible_division,
                       found=registered)
    if data.company_size not in programme.eligible_sizes:
        raise InvalidInput("The programme is not open to companies of this size.", field="company_size",
                           code="size_not_eligible")
    if data.purpose not in programme.eligible_purposes:
        raise InvalidInput("The programme does not pay for this purpose.", field="purpose",
                           code="purpose_not_eligible")
    if db.scalar(select(Application.id).where(Application.programme_id == programme.id,
                                              Application.org_id == actor.org_id, Application.status == "pending")):
        raise Conflict("Your organisation has an application waiting for a decision.", field="programme_id",
                       code="application_pending")
    found = Application(programme_id=programme.id, org_id=actor.org_id, purpose=data.purpose,
                        company_size=data.company_size, planned_use=data.planned_use, requested_fen=data.requested_fen)
    db.add(found)
    db.flush()
    audit.record(db, actor, "vouchers.applied", target_type="voucher_application", target_id=found.id,
                 target_org_id=actor.org_id)
    inbox.notify(db, CAPABILITY, "A company applied for vouchers of {programme}.", org_id=programme.admin_org_id,
                 subject=("voucher_application", found.id), link=f"/vouchers/programmes/{programme.id}",
                 programme=programme.name_zh)
    return found


def applications(db: Session, actor: Actor, programme_id: int) -> list[Application]:
    programme = managed_programme(db, actor, programme_id)
    return list(db.scalars(select(Application).where(Application.programme_id == programme.id)
                           .order_by(Application.status != "pending", Application.id.desc())))


def _faces_to_issue(programme: Programme, application: Application, asked: list[int]) -> list[int]:
    if asked:
        unknown = [f for f in asked if f not in programme.face_values_fen]
        if unknown or any(f <= 0 for f in asked):
            raise InvalidInput("Each voucher must have one of the programme's face values.", field="face_values_fen",
                               code="unknown_face_value")
        return asked
    # The largest face values whose sum stays within what was asked for (at least the smallest one).
    faces, left = [], application.requested_fen
    for face in sorted(programme.face_values_fen, reverse=True):
        while face <= left:
            faces.append(face)
            left -= face
    return faces or [min(programme.face_values_fen)]


def decide_application(db: Session, actor: Actor, application_id: int, data: schemas.DecisionIn) -> Application:
    """Approve (the vouchers are issued at once, within the budget and the per-company cap) or reject."""
    found = db.get(Application, application_id)
    missing = NotFound("Application {application_id} does not exist.", application_id=application_id)
    if found is None:
        raise missing
    programme = managed_programme(db, actor, found.programme_id, locked=True)  # the budget's lock
    db.refresh(found)
    if found.status != "pending":
        raise Conflict("The application was decided already ({status}).", field="status", code="application_decided",
                       status=found.status)
    if data.approve and (today() > programme.ends_on or programme.closed_at is not None):
        raise Conflict("The programme ended on {day}.", field="programme_id", code="programme_ended",
                       day=programme.ends_on.isoformat())
    if not data.approve:
        if not data.reason.strip():
            raise InvalidInput("Give the applicant a reason.", field="reason")
        found.status, found.reason, found.decided_at = "rejected", data.reason, utcnow()
        audit.record(db, actor, "vouchers.application.rejected", target_type="voucher_application", target_id=found.id,
                     target_org_id=found.org_id)
        inbox.notify(db, CAPABILITY, "Your application to {programme} was rejected: {reason}", org_id=found.org_id,
                     subject=("voucher_application", found.id), link="/vouchers/mine", programme=programme.name_zh,
                     reason=data.reason[:300])
        return found
    # a record made after the application (by any administrator) holds too
    refuse_broken_trust(db, found.org_id, N_("The company has a broken-trust record in force, made by {administrator} "
                        "on {day} (source: {source}); it is issued no vouchers until the record is lifted."),
                        "programme_id")
    faces = _faces_to_issue(programme, found, data.face_values_fen)
    total = sum(faces)
    if total > programme.remaining_fen:
        raise Conflict("The programme has {remaining} fen left; these vouchers need {total} fen.",
                       field="face_values_fen", code="budget_exhausted", remaining=programme.remaining_fen, total=total)
    day = today()
    year_start = datetime(day.year, 1, 1, tzinfo=SHANGHAI)
    issued = db.scalar(select(func.coalesce(func.sum(Voucher.face_fen - Voucher.lapsed_fen), 0)).where(
        Voucher.programme_id == programme.id, Voucher.holder_org_id == found.org_id,
        Voucher.issued_at >= year_start)) or 0
    if int(issued) + total > programme.cap_company_year_fen:
        raise InvalidInput("The company would hold {total} fen of vouchers this year, above the cap of {cap} fen.",
                           field="face_values_fen", code="above_company_cap", total=int(issued) + total,
                           cap=programme.cap_company_year_fen)
    programme.committed_fen += total
    programme.version += 1
    expires = min(day + timedelta(days=programme.voucher_valid_days), programme.ends_on)
    found.status, found.reason, found.decided_at = "approved", data.reason, utcnow()
    usccs = uscc_of(db, [found.org_id, programme.admin_org_id])
    for face in faces:
        entry = log.append_event(db, "vouchers.issued", {
            "programme_id": programme.id, "administrator_uscc": usccs[programme.admin_org_id],
            "holder_uscc": usccs[found.org_id], "face_fen": face, "expires_on": expires.isoformat(),
            "purpose": found.purpose})
        db.add(Voucher(programme_id=programme.id, application_id=found.id, holder_org_id=found.org_id, face_fen=face,
                       remaining_fen=face, expires_on=expires, log_index=entry.index))
    db.flush()
    audit.record(db, actor, "vouchers.application.approved", target_type="voucher_application", target_id=found.id,
                 target_org_id=found.org_id, total_fen=total)
    inbox.notify(db, CAPABILITY, "Your application to {programme} was approved: {count} voucher(s) issued.",
                 org_id=found.org_id, subject=("voucher_application", found.id), link="/vouchers/mine",
                 programme=programme.name_zh, count=len(faces))
    return found


def application_json(a: Application) -> dict[str, Any]:
    return {"id": a.id, "programme_id": a.programme_id, "org_id": a.org_id, "purpose": a.purpose,
            "company_size": a.company_size, "planned_use": a.planned_use, "requested_fen": a.requested_fen,
            "status": a.status, "reason": a.reason}


def vouchers_of(db: Session, actor: Actor) -> list[Voucher]:
    policy.require(actor, "vouchers.mine")
    return list(db.scalars(select(Voucher).where(Voucher.holder_org_id == actor.org_id)
                           .order_by(Voucher.expires_on, Voucher.id)))


def voucher_json(v: Voucher) -> dict[str, Any]:
    return {"id": v.id, "programme_id": v.programme_id, "holder_org_id": v.holder_org_id, "face_fen": v.face_fen,
            "remaining_fen": v.remaining_fen, "lapsed_fen": v.lapsed_fen, "expires_on": v.expires_on.isoformat(),
            "expired": v.expires_on < today(), "log_index": v.log_index}


def lapse_expired(db: Session, programme_id: int | None = None) -> int:
    """Expired vouchers' unspent value goes back to their programmes' budgets (a periodic job), or
    one programme's. Locks in the order a settlement takes them (programme, then vouchers), so the
    two never deadlock."""
    expired = (Voucher.expires_on < today()) & (Voucher.remaining_fen > 0)
    if programme_id is not None:
        expired = expired & (Voucher.programme_id == programme_id)
    count = 0
    for programme_id in sorted(set(db.scalars(select(Voucher.programme_id).where(expired)))):
        programme = lock(db, Programme, programme_id, missing_programme(programme_id))
        for voucher in db.scalars(select(Voucher).where(expired, Voucher.programme_id == programme_id)
                                  .order_by(Voucher.id).with_for_update().execution_options(populate_existing=True)):
            programme.committed_fen -= voucher.remaining_fen
            voucher.lapsed_fen += voucher.remaining_fen
            voucher.remaining_fen = 0
            count += 1
    db.flush()
    return count


def open_programmes_for(db: Session, provider_org_id: int) -> list[Programme]:
    day = today()
    return [p for p in db.scalars(select(Programme).where(Programme.starts_on <= day, Programme.ends_on >= day))
            if provider_org_id in p.provider_org_ids]



# --- checks a route makes before its once-only work (a refusal is not stored under the key) -------

def require_publish(actor: Actor) -> None:
    policy.require(actor, "vouchers.offering.publish")


def require_create(actor: Actor) -> None:
    policy.require(actor, "vouchers.programme.create")


def require_apply(actor: Actor) -> None:
    policy.require(actor, "vouchers.apply")


def authorise_decision(db: Session, actor: Actor, application_id: int) -> int:
    """The checks of ``decide_application``; the application's programme (its page shows the form)."""
    found = db.get(Application, application_id)
    if found is None:
        raise NotFound("Application {application_id} does not exist.", application_id=application_id)
    return managed_programme(db, actor, found.programme_id).id
