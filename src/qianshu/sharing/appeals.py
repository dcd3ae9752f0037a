"""A second look at a sharing decision: the requesting department's one appeal against a narrowing
or a rejection, decided by the big-data bureau, and a grantee's request for a later end date of its
grant, decided by the owner.

Both are decided by one conditional UPDATE (``WHERE status = 'pending'``): of two decisions at once
exactly one is applied and the other gets a bilingual 409, nothing changed. Filing one first takes
the request's row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's writes queue), so two appeals, or
two extension requests, at once cannot both be filed. Every step is audited on the request (its
timeline) and told to the other side's inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import audit, inbox, policy
from qianshu.core.actor import Actor
from qianshu.core.audit import AuditEvent
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import Label
from qianshu.core.timeutil import utcnow
from qianshu.sharing import appeal_parts, grants, schemas
from qianshu.sharing.models import GRANTED_STATUSES, SharingAppeal, SharingExtension, SharingRequest, SharingResource
from qianshu.sharing.permissions import request_resource

CAPABILITY = "sharing"
APPEALABLE = ("narrowed", "rejected")
APPEALED = "{requester} appealed the decision on sharing request #{id} for {resource}: {reason}"
APPEAL_DECIDED = "The appeal on sharing request #{id} for {resource} was decided: {decision}."
EXTENSION_ASKED = "{requester} asks to use grant #{id} for {resource} until {until}: {reason}"
EXTENSION_DECIDED = "Your request to use grant #{id} for {resource} until {until} was {decision}."


def _lock(db: Session, row: SharingRequest) -> None:
    """Take the request's row until the transaction ends (PostgreSQL; SQLite's writes queue)."""
    db.execute(select(SharingRequest.id).where(SharingRequest.id == row.id).with_for_update())
    db.refresh(row)


def _resource_name(db: Session, row: SharingRequest) -> str:
    return db.get_one(SharingResource, row.resource_id).name_zh


def _decide_once(db: Session, pending: SharingAppeal | SharingExtension, **values: Any) -> bool:
    """Apply a decision with one conditional UPDATE (``WHERE status = 'pending'``); False if another
    decision came first (``pending`` then shows it)."""
    model = type(pending)
    result = db.execute(update(model).where(model.id == pending.id, model.status == "pending").values(**values)
                        .execution_options(synchronize_session=False))
    db.refresh(pending)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _reason(text: str, message: str) -> str:
    reason = text.strip()
    if not reason:
        raise InvalidInput(message, field="reason", code="reason_required")
    return reason


# --- appeals -----------------------------------------------------------------------------------

def appeal_of(db: Session, request_id: int) -> SharingAppeal | None:
    return db.scalar(select(SharingAppeal).where(SharingAppeal.request_id == request_id))


def appeals_by_request(db: Session, request_ids: list[int]) -> dict[int, SharingAppeal]:
    """The appeals of these requests (a request has at most one), by request id."""
    if not request_ids:
        return {}
    return {a.request_id: a for a in db.scalars(select(SharingAppeal).where(SharingAppeal.request_id.in_(request_ids)))}


def file_appeal(db: Session, actor: Actor, row: SharingRequest, data: schemas.AppealIn) -> SharingAppeal:
    """The requesting department appeals a narrowing or a rejection, once, saying why; every
    big-data bureau and the owner are told."""
    policy.require(actor, "sharing.appeal.create", request_resource(row.owner_org_id, row.requester_org_id))
    reason = _reason(data.reason, "Say why the decision should be changed.")
    _lock(db, row)
    if appeal_of(db, row.id) is not None:
        raise Conflict("This request has already been appealed; a decision is appealed once.",
                       code="already_appealed")
    if row.status not in APPEALABLE:
        raise Conflict("Only a narrowed or rejected request can be appealed; this one is {status}.",
                       code="not_appealable", status=Label("sharing request status", row.status))
    parts = appeal_parts.appeal_parts(row, data.fields, data.period_start, data.period_end)
    appeal = SharingAppeal(request_id=row.id, appealed_status=row.status, reason=reason, appealed_by=actor.user_id,
                           fields=parts.fields, period_start=parts.start, period_end=parts.end)
    db.add(appeal)
    db.flush()
    audit.record(db, actor, "sharing.appeal.filed", target_type="sharing_request", target_id=row.id,
                 target_org_id=row.owner_org_id, appealed=row.status, reason=reason, fields=parts.fields,
                 period=f"{parts.start.isoformat()}/{parts.end.isoformat()}")
    requester = accounts.organisation_by_id(db, row.requester_org_id)
    bureaus = [o.id for o in accounts.organisations_of_type(db, "data_bureau")]
    for org_id in dict.fromkeys([*bureaus, row.owner_org_id]):
        inbox.notify(db, CAPABILITY, APPEALED, org_id=org_id, subject=("sharing_request", row.id),
                     link=f"/sharing/requests/{row.id}", id=row.id, resource=_resource_name(db, row),
                     requester=requester.name, reason=reason[:200])
    return appeal


def decide_appeal(db: Session, actor: Actor, row: SharingRequest, data: schemas.AppealDecisionIn) -> SharingAppeal:
    """The bureau upholds the owner's decision (saying why), grants what was appealed, or grants part
    of it (some of the appealed fields and/or part of the appealed period, saying why); the request's
    access becomes what the owner granted plus what the bureau granted, and the grant ends on
    ``expires_on`` or with the period granted. Of two decisions at once one applies; the other gets
    409 ``appeal_already_decided``."""
    policy.require(actor, "sharing.appeal.decide", request_resource(row.owner_org_id, row.requester_org_id))
    appeal = appeal_of(db, row.id)
    if appeal is None:
        raise Conflict("This request has not been appealed.", code="no_appeal")
    reason = data.reason.strip()
    if data.decision == "uphold":
        reason = _reason(reason, "Say why the owner's decision stands.")
    elif data.decision == "grant_part":
        reason = _reason(reason, "Say why only part of the appeal is granted.")
    asked = appeal_parts.appealed(appeal, row)
    granted: appeal_parts.Parts | None = None
    if data.decision == "grant":
        granted = asked
    elif data.decision == "grant_part":
        granted = appeal_parts.granted_parts(row, asked, data.fields, data.period_start, data.period_end)
    status = "upheld" if granted is None else "granted" if granted == asked else "partly_granted"
    expires_on = grants.expiry(data.expires_on, granted.end) if granted else None
    now = utcnow()
    parts: dict[str, Any] = {} if granted is None else {
        "granted_fields": granted.fields, "granted_start": granted.start, "granted_end": granted.end}
    if not _decide_once(db, appeal, status=status, decision_reason=reason, decided_by=actor.user_id,
                        decided_by_org_id=actor.org_id, decided_at=now, **parts):
        raise Conflict("This appeal is already decided ({status}); the decision was not applied.",
                       code="appeal_already_decided", status=Label("sharing appeal status", appeal.status))
    if granted is not None:
        _grant(db, actor, row, granted, expires_on, now)
    audit.record(db, actor, f"sharing.appeal.{appeal.status}", target_type="sharing_request", target_id=row.id,
                 target_org_id=row.owner_org_id, reason=reason,
                 expires_on=expires_on.isoformat() if expires_on else None,
                 **({} if granted is None else {"fields": row.granted_fields, "period": f"{granted.start.isoformat()}/"
                                                                                      f"{granted.end.isoformat()}"}))
    for org_id in (row.requester_org_id, row.owner_org_id):
        inbox.notify(db, CAPABILITY, APPEAL_DECIDED, org_id=org_id, subject=("sharing_request", row.id),
                     link=f"/sharing/requests/{row.id}", id=row.id, resource=_resource_name(db, row),
                     decision=Label("sharing appeal status", appeal.status))
    return appeal


def _grant(db: Session, actor: Actor, row: SharingRequest, granted: appeal_parts.Parts, expires_on: date | None,
           now: datetime) -> None:
    """The request's access becomes the owner's grant plus the appeal's, with one conditional UPDATE
    (a request revoked or ended since it was appealed: 409, nothing applied)."""
    status, fields, start, end = appeal_parts.resulting_access(row, granted)
    result = db.execute(update(SharingRequest)
                        .where(SharingRequest.id == row.id, SharingRequest.status.in_(APPEALABLE))
                        .values(status=status, granted_fields=fields, granted_start=start, granted_end=end,
                                expires_on=expires_on, decided_by=actor.user_id, decided_at=now,
                                version=SharingRequest.version + 1)
                        .execution_options(synchronize_session=False))
    db.refresh(row)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This request is now {status}; the appeal's decision was not applied.",
                       code="not_appealable", status=Label("sharing request status", row.status))


# --- extensions --------------------------------------------------------------------------------

def extensions_of(db: Session, request_id: int) -> list[SharingExtension]:
    return list(db.scalars(select(SharingExtension).where(SharingExtension.request_id == request_id)
                           .order_by(SharingExtension.id)))


def pending_extension(db: Session, request_id: int) -> SharingExtension | None:
    return db.scalar(select(SharingExtension).where(SharingExtension.request_id == request_id,
                                                    SharingExtension.status == "pending"))


def ask_extension(db: Session, actor: Actor, row: SharingRequest, data: schemas.ExtensionIn) -> SharingExtension:
    """The grantee asks, before its grant ends, to use it until a later day, saying why; the owner
    is told. One request at a time per grant."""
    policy.require(actor, "sharing.extension.ask", request_resource(row.owner_org_id, row.requester_org_id))
    reason = _reason(data.reason, "Say why the grant should last longer.")
    _lock(db, row)
    if not grants.in_force(row) or row.expires_on is None:
        raise Conflict("A grant can be extended only before it ends; this one is {status}.", code="grant_not_active",
                       status=Label("sharing request status", row.status if row.status not in GRANTED_STATUSES
                                    else "expired"))
    if data.until <= row.expires_on:
        raise InvalidInput("Ask for a day after the grant's end date ({ends}).", field="until",
                           code="not_later", ends=row.expires_on.isoformat())
    if pending_extension(db, row.id) is not None:
        raise Conflict("A longer grant has already been asked for and waits for the owner.",
                       code="extension_pending")
    extension = SharingExtension(request_id=row.id, ends_on=row.expires_on, asked_until=data.until, reason=reason,
                                 asked_by=actor.user_id)
    db.add(extension)
    db.flush()
    audit.record(db, actor, "sharing.extension.asked", target_type="sharing_request", target_id=row.id,
                 target_org_id=row.owner_org_id, extension_id=extension.id, until=data.until.isoformat(),
                 reason=reason)
    requester = accounts.organisation_by_id(db, row.requester_org_id)
    inbox.notify(db, CAPABILITY, EXTENSION_ASKED, org_id=row.owner_org_id, subject=("sharing_request", row.id),
                 link=f"/sharing/requests/{row.id}", id=row.id, resource=_resource_name(db, row),
                 requester=requester.name, until=data.until.isoformat(), reason=reason[:200])
    return extension


def decide_extension(db: Session, actor: Actor, row: SharingRequest, extension_id: int,
                     data: schemas.ExtensionDecisionIn) -> SharingExtension:
    """The owner approves (the grant's new end date: the one asked, or another later than the
    current one and not in the past) or refuses, saying why. Of two decisions at once one
    applies; the other gets 409 ``extension_already_decided``. A grant revoked meanwhile: 409."""
    policy.require(actor, "sharing.extension.decide", request_resource(row.owner_org_id, row.requester_org_id))
    extension = db.get(SharingExtension, extension_id)
    if extension is None or extension.request_id != row.id:
        raise NotFound("Extension request {id} does not exist.", id=extension_id)
    values: dict[str, Any] = {"decided_by": actor.user_id, "decided_at": utcnow(),
                              "decision_reason": data.reason.strip()}
    if data.decision == "refuse":
        values.update(status="refused", decision_reason=_reason(data.reason, "Say why the grant is not extended."))
    else:
        until = data.expires_on or extension.asked_until
        if until <= extension.ends_on or until < grants.today():
            raise InvalidInput("The new end date must be after the grant's end date ({ends}) and not in the past.",
                               field="expires_on", code="not_later", ends=extension.ends_on.isoformat())
        values.update(status="approved", granted_until=until)
    _lock(db, row)  # a revocation under way finishes first
    if not _decide_once(db, extension, **values):
        raise Conflict("This extension request is already {status}; the decision was not applied.",
                       code="extension_already_decided", status=Label("sharing extension status", extension.status))
    if extension.status == "approved":
        extended = db.execute(update(SharingRequest)
                              .where(SharingRequest.id == row.id, SharingRequest.status.in_(GRANTED_STATUSES))
                              .values(expires_on=extension.granted_until, version=SharingRequest.version + 1)
                              .execution_options(synchronize_session=False))
        db.refresh(row)
        if extended.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("This grant is already {status}; the extension was not applied.", code="grant_not_active",
                           status=Label("sharing request status", row.status))
    until_day = extension.granted_until or extension.asked_until
    audit.record(db, actor, f"sharing.extension.{extension.status}", target_type="sharing_request",
                 target_id=row.id, target_org_id=row.owner_org_id, extension_id=extension.id,
                 until=until_day.isoformat(), reason=extension.decision_reason)
    inbox.notify(db, CAPABILITY, EXTENSION_DECIDED, org_id=row.requester_org_id, subject=("sharing_request", row.id),
                 link=f"/sharing/requests/{row.id}", id=row.id, resource=_resource_name(db, row),
                 until=until_day.isoformat(), decision=Label("sharing extension status", extension.status))
    return extension


# --- the timeline ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    at: datetime
    action: str
    actor_label: str
    detail: dict[str, Any]


def timeline(db: Session, row: SharingRequest) -> list[Step]:
    """Everything that happened to a request, oldest first: its audit rows (a use of the grant is in
    the access log, not here)."""
    events = db.scalars(select(AuditEvent).where(AuditEvent.target_type == "sharing_request",
                                                 AuditEvent.target_id == str(row.id),
                                                 ~AuditEvent.action.startswith("sharing.access."))
                        .order_by(AuditEvent.id).limit(200))
    return [Step(e.at, e.action, e.actor_label, dict(e.detail or {})) for e in events]


# --- JSON --------------------------------------------------------------------------------------

def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def appeal_json(a: SharingAppeal, row: SharingRequest) -> dict[str, Any]:
    asked = appeal_parts.appealed(a, row)
    return {"id": a.id, "request_id": a.request_id, "appealed_status": a.appealed_status, "reason": a.reason,
            "fields": asked.fields, "period_start": _iso(asked.start), "period_end": _iso(asked.end),
            "status": a.status, "appealed_at": _iso(a.appealed_at), "decision_reason": a.decision_reason,
            "granted_fields": a.granted_fields, "granted_start": _iso(a.granted_start),
            "granted_end": _iso(a.granted_end), "decided_at": _iso(a.decided_at)}


def extension_json(e: SharingExtension) -> dict[str, Any]:
    return {"id": e.id, "request_id": e.request_id, "ends_on": _iso(e.ends_on), "asked_until": _iso(e.asked_until),
            "reason": e.reason, "status": e.status, "asked_at": _iso(e.asked_at),
            "granted_until": _iso(e.granted_until), "decision_reason": e.decision_reason,
            "decided_at": _iso(e.decided_at)}


def step_json(s: Step) -> dict[str, Any]:
    return {"at": _iso(s.at), "action": s.action, "by": s.actor_label, "detail": s.detail}
