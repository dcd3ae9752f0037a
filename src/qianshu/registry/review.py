"""Registration rules, part 2: submission, review, public notice, objections, reports,
certificates, revocation and the later registrations of an asset (change, transfer,
renewal, cancellation). Every step is kept in ``registration_history``; every step that
matters to a third party is also a leaf of the public log, in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import audit, policy
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, QianshuError
from qianshu.core.events import publish
from qianshu.core.i18n import Label
from qianshu.core.identifiers import validate_uscc
from qianshu.core.settings import Settings
from qianshu.core.signing import Signer, sign_document
from qianshu.core.timeutil import local_display, utcnow
from qianshu.registry import permissions, schemas
from qianshu.registry.certificate import certificate_facts, facts_digest, signed_certificate
from qianshu.registry.events import RegistrationChallenged, RegistrationRevoked, RegistrationSuperseded
from qianshu.registry.models import (
    Certificate,
    ColumnProfile,
    Objection,
    PiiFinding,
    ProviderReport,
    QualityScore,
    Registration,
    RegistrationFile,
)
from qianshu.registry.service import get_registration, is_reviewer, load_registration, record_step, rescore
from qianshu.registry.settings import RegistrySettings
from qianshu.translog.service import append_event, sign_tree_head

VALIDITY_YEARS = 3
REVIEWABLE = ("submitted", "under_review")


def _require_reviewer(actor: Actor) -> None:
    policy.require(actor, "registration.review")


def _require_operator(actor: Actor) -> None:
    policy.require(actor, "registration.certify")


def _holder_reg(db: Session, actor: Actor, registration_id: int) -> Registration:
    reg = load_registration(db, registration_id)
    policy.require(actor, "registration.edit", permissions.registration(reg),
                   hidden=NotFound("Registration {id} does not exist.", id=registration_id))
    return reg


def _data_fingerprint(db: Session, reg: Registration) -> set[str]:
    files = db.scalars(select(RegistrationFile.sha256).where(RegistrationFile.registration_id == reg.id))
    return set(files) | ({reg.parquet_sha256} if reg.parquet_sha256 else set())


def disputed_by(db: Session, reg: Registration) -> Registration | None:
    """Another organisation's live registration of the very same data: the rights are disputed."""
    mine = _data_fingerprint(db, reg)
    if not mine or reg.reg_type == "transfer":
        return None
    others = db.scalars(select(Registration).where(
        Registration.id != reg.id, Registration.holder_org_id != reg.holder_org_id,
        Registration.status.in_(("submitted", "under_review", "public_notice", "issued"))))
    for other in others:
        if other.id != reg.previous_id and mine & _data_fingerprint(db, other):
            return other
    return None


def submit(db: Session, actor: Actor, registration_id: int) -> Registration:
    reg = _holder_reg(db, actor, registration_id)
    if reg.status not in ("ready", "returned"):
        raise Conflict("The registration cannot be submitted while it is {status}.",
                       status=Label("registration status", reg.status))
    missing = [f for f in ("title_zh", "title_en", "industry_code", "division_code", "update_frequency",
                           "source", "lawful_basis") if not getattr(reg, f)]
    if not reg.rights:
        missing.append("rights")
    if missing:
        raise InvalidInput("{field} is required.", field=missing[0])
    if reg.source == "purchased" and not reg.contract_sha256:  # the uploaded file (documents.py), not a mention
        raise InvalidInput("{field}: purchased data needs the purchase contract.", field="contract")
    if reg.reg_type == "transfer" and reg.transferee_confirmed_at is None:
        raise Conflict("The receiving organisation has not yet confirmed the transfer.")
    other = disputed_by(db, reg)
    if other is not None:
        raise Conflict("The rights are disputed: another organisation has registered the same data.",
                       code="rights_disputed")
    reg.submitted_at = utcnow()
    record_step(db, actor, reg, "resubmitted" if reg.status == "returned" else "submitted", "submitted")
    db.flush()
    return reg


def review_queue(db: Session, actor: Actor) -> list[Registration]:
    policy.require(actor, "registration.read_all")
    return list(db.scalars(select(Registration).where(Registration.status.in_(
        ("submitted", "under_review", "public_notice"))).order_by(Registration.submitted_at)))


def take(db: Session, actor: Actor, registration_id: int) -> Registration:
    _require_reviewer(actor)
    reg = load_registration(db, registration_id)
    if reg.status != "submitted":
        raise Conflict("The registration cannot be reviewed while it is {status}.",
                       status=Label("registration status", reg.status))
    reg.reviewer_id = actor.user_id
    record_step(db, actor, reg, "review_started", "under_review")
    db.flush()
    return reg


def approve(db: Session, actor: Actor, settings: Settings, registration_id: int,
            data: schemas.Approval, now: datetime | None = None) -> Registration:
    """Confirm the classification; start the public notice (or finish a cancellation)."""
    _require_reviewer(actor)
    reg = load_registration(db, registration_id)
    if reg.status not in REVIEWABLE:
        raise Conflict("The registration cannot be reviewed while it is {status}.",
                       status=Label("registration status", reg.status))
    classification = data.classification or reg.suggested_classification
    if classification == "core":
        raise Conflict("National core data cannot be registered for trading; reject the registration.",
                       code="core_data")
    if disputed_by(db, reg) is not None:
        raise Conflict("The rights are disputed: another organisation has registered the same data.",
                       code="rights_disputed")
    reg.classification = classification
    reg.personal_info = data.personal_info or reg.suggested_personal_info
    if data.quality:
        reg.declared_quality = {**(reg.declared_quality or {}),
                                "reviewer": {k: v.model_dump() for k, v in data.quality.items()}}
        rescore(db, reg)
    reg.review_reason = data.reason
    reg.reviewer_id = actor.user_id
    now = now or utcnow()
    if reg.reg_type == "cancellation":
        return _finish_cancellation(db, actor, reg, data.reason or "cancelled by the holder")
    reg.notice_starts_at = now
    reg.notice_ends_at = now + settings.section(RegistrySettings).public_notice_duration
    record_step(db, actor, reg, "approved", "public_notice", data.reason)
    db.flush()
    return reg


def return_for_changes(db: Session, actor: Actor, registration_id: int, reason: str) -> Registration:
    _require_reviewer(actor)
    reg = load_registration(db, registration_id)
    if reg.status not in REVIEWABLE:
        raise Conflict("The registration cannot be reviewed while it is {status}.",
                       status=Label("registration status", reg.status))
    reg.review_reason = reason
    record_step(db, actor, reg, "returned", "returned", reason)
    db.flush()
    return reg


def reject(db: Session, actor: Actor, registration_id: int, reason: str) -> Registration:
    _require_reviewer(actor)
    reg = load_registration(db, registration_id)
    if reg.status not in (*REVIEWABLE, "public_notice"):
        raise Conflict("The registration cannot be reviewed while it is {status}.",
                       status=Label("registration status", reg.status))
    reg.review_reason = reason
    record_step(db, actor, reg, "rejected", "rejected", reason)
    db.flush()
    return reg


def file_objection(db: Session, actor: Actor, registration_id: int, grounds: str,
                   evidence: tuple[str, str] | None = None) -> Objection:
    """Anyone signed in may object during the public notice, with evidence (a stored blob)."""
    policy.require(actor, "objection.file")
    reg = load_registration(db, registration_id)
    if reg.status != "public_notice":
        raise Conflict("Objections can only be filed during the public notice.")
    objection = Objection(registration_id=reg.id, filed_by_user_id=actor.user_id, filed_by_org_id=actor.org_id,
                          grounds=grounds, evidence_sha256=evidence[0] if evidence else None,
                          evidence_name=evidence[1][:255] if evidence else "")
    db.add(objection)
    db.flush()
    audit.record(db, actor, "registration.objection_filed", target_type="registration", target_id=reg.id,
                 target_org_id=reg.holder_org_id, objection_id=objection.id,
                 evidence_sha256=objection.evidence_sha256, evidence_name=objection.evidence_name)
    publish(db, RegistrationChallenged(registration_id=reg.id, objection_id=objection.id, previous_id=reg.previous_id))
    return objection


def objections(db: Session, registration_id: int) -> list[Objection]:
    return list(db.scalars(select(Objection).where(Objection.registration_id == registration_id)
                           .order_by(Objection.id)))


def objection_registration_id(db: Session, objection_id: int) -> int | None:
    """The registration an objection is about (for the page that shows a refused decision)."""
    objection = db.get(Objection, objection_id)
    return objection.registration_id if objection is not None else None


def decide_objection(db: Session, actor: Actor, objection_id: int, uphold: bool, reason: str) -> Objection:
    """Upheld: the rights are disputed and the registration is refused. Dismissed: notice goes on."""
    _require_operator(actor)
    objection = db.get(Objection, objection_id)
    if objection is None:
        raise NotFound("Not found.")
    if objection.status != "open":
        raise Conflict("This objection has already been decided.")
    reg = load_registration(db, objection.registration_id)
    objection.status = "upheld" if uphold else "dismissed"
    objection.decided_by, objection.decided_at, objection.decision_reason = actor.user_id, utcnow(), reason
    if not uphold:
        record_step(db, actor, reg, "objection_dismissed", reg.status, reason)
    elif reg.status == "public_notice":
        reg.review_reason = reason
        record_step(db, actor, reg, "objection_upheld", "rejected", reason)
    else:  # upheld after the registration already left its notice (say, refused): recorded as upheld
        record_step(db, actor, reg, "objection_upheld", reg.status, reason)
    db.flush()
    publish(db, RegistrationChallenged(registration_id=reg.id, objection_id=objection.id, outcome=objection.status,
                                       previous_id=reg.previous_id))
    return objection


def attach_report(db: Session, actor: Actor, signer: Signer, registration_id: int, data: schemas.ReportIn,
                  document: tuple[str, str] | None = None) -> ProviderReport:
    """A service provider's compliance, quality or appraisal report, attested with the exchange key."""
    policy.require(actor, "report.attach")
    reg = get_registration(db, actor, registration_id)
    if reg.status not in ("submitted", "under_review", "public_notice", "issued"):
        raise Conflict("Reports can be attached once the registration is submitted.")
    statement = {"registration_id": reg.id, "kind": data.kind, "title": data.title, "conclusion": data.conclusion,
                 "score": data.score, "provider_org_id": actor.org_id, "submitted_by": actor.user_id,
                 "document_sha256": document[0] if document else None, "at": utcnow().isoformat(timespec="seconds")}
    report = ProviderReport(registration_id=reg.id, provider_org_id=actor.org_id, submitted_by=actor.user_id,
                            kind=data.kind, title=data.title, conclusion=data.conclusion, score=data.score,
                            document_sha256=statement["document_sha256"],
                            document_name=document[1][:255] if document else "", statement=statement,
                            signature=sign_document(signer, statement), key_id=signer.key_id)
    db.add(report)
    record_step(db, actor, reg, f"report_{data.kind}", reg.status, data.title)
    db.flush()
    return report


def reports(db: Session, registration_id: int) -> list[ProviderReport]:
    return list(db.scalars(select(ProviderReport).where(ProviderReport.registration_id == registration_id)
                           .order_by(ProviderReport.id)))


def _next_number(db: Session, year: int) -> str:
    prefix = f"QS-DR-{year}-"
    last = db.scalar(select(func.max(Registration.number)).where(Registration.number.like(prefix + "%")))
    return f"{prefix}{(int(last[-6:]) + 1 if last else 1):06d}"


def issue_refusal(db: Session, actor: Actor, reg: Registration, now: datetime | None = None) -> QianshuError | None:
    """Why issuing the certificate would be refused now, or None when it may be issued: the rule
    :func:`issue_certificate` applies, which pages ask before they offer the button."""
    try:
        _require_operator(actor)
    except QianshuError as exc:
        return exc
    if reg.status != "public_notice":
        return Conflict("The registration cannot be issued while it is {status}.",
                        status=Label("registration status", reg.status))
    if reg.notice_ends_at and reg.notice_ends_at > (now or utcnow()):
        # to the minute, in the exchange's time: a demonstration's notice lasts minutes
        return Conflict("The public notice runs until {date}.",
                        date=local_display(reg.notice_ends_at, "%Y-%m-%d %H:%M GMT+08:00"))
    if any(o.status == "open" for o in objections(db, reg.id)):
        return Conflict("Open objections must be decided before the certificate is issued.")
    return None


def issue_certificate(db: Session, actor: Actor, settings: Settings, signer: Signer, registration_id: int,
                      now: datetime | None = None) -> Certificate:
    """After the public notice, with no open or upheld objection: number, sign, log."""
    now = now or utcnow()
    reg = load_registration(db, registration_id)
    refusal = issue_refusal(db, actor, reg, now)
    if refusal is not None:
        raise refusal
    data_reg = load_registration(db, reg.data_from_id) if reg.data_from_id else reg
    holder_id = reg.transferee_org_id if reg.reg_type == "transfer" and reg.transferee_org_id else reg.holder_org_id
    holder = accounts.organisation_by_id(db, holder_id)
    number = _next_number(db, now.year)
    valid_until = now.date().replace(year=now.year + VALIDITY_YEARS)
    files = list(data_reg.files)
    facts = certificate_facts(number=number, reg=reg, holder=holder, files=files, issued_at=now,
                              valid_until=valid_until, exchange_name=settings.exchange_name_zh,
                              exchange_uscc=settings.exchange_uscc)
    if reg.previous_id:
        previous = load_registration(db, reg.previous_id)
        facts["previous_number"] = previous.number
    facts["data"]["parquet_sha256"] = data_reg.parquet_sha256
    facts["data"]["rows"], facts["data"]["columns"] = data_reg.row_count, data_reg.column_count
    event = {"initial": "registration.issued", "change": "registration.amended",
             "transfer": "registration.transferred", "renewal": "registration.issued"}.get(
        reg.reg_type, "registration.issued")
    entry = append_event(db, event, {**_log_facts(facts), "facts_sha256": facts_digest(facts)})
    document = {**facts, "log": {"index": entry.index, "leaf_hash": entry.leaf_hash}}
    signed = signed_certificate(signer, document)
    cert = Certificate(registration_id=reg.id, number=number, document=document,
                       signature=signed["signature"]["value"], algorithm=signer.algorithm, key_id=signer.key_id,
                       log_index=entry.index, leaf_hash=entry.leaf_hash, issued_at=now)
    db.add(cert)
    reg.number, reg.issued_at, reg.valid_until = number, now, valid_until
    if reg.reg_type == "transfer" and reg.transferee_org_id:
        reg.holder_org_id, reg.transferee_org_id = reg.transferee_org_id, reg.holder_org_id
    record_step(db, actor, reg, "issued", "issued")
    if reg.previous_id:
        _close_previous(db, actor, reg)
    db.flush()
    # Publish a signed tree head covering the new leaf at once, so the certificate's inclusion
    # proof can be checked the moment it is issued (one signature per certificate).
    sign_tree_head(db, signer)
    return cert


def _log_facts(facts: dict[str, Any]) -> dict[str, Any]:
    return {"number": facts["number"], "type": facts["type"], "holder_uscc": facts["holder"]["uscc"],
            "rights": facts["rights"], "parquet_sha256": facts["data"]["parquet_sha256"],
            "files_sha256": [f["sha256"] for f in facts["data"]["files"]], "rows": facts["data"]["rows"],
            "classification": facts["classification"], "valid_until": facts["valid_until"],
            "previous_number": facts["previous_number"]}


def _close_previous(db: Session, actor: Actor, reg: Registration) -> None:
    previous = load_registration(db, reg.previous_id or 0)
    to_status = {"change": "superseded", "transfer": "transferred", "renewal": "superseded"}[reg.reg_type]
    record_step(db, actor, previous, f"{to_status}_by", to_status, reg.number or "")
    if reg.reg_type == "transfer":
        publish(db, RegistrationRevoked(registration_id=previous.id, reason="transferred"))
    else:
        publish(db, RegistrationSuperseded(registration_id=previous.id, successor_id=reg.id, kind=reg.reg_type))


def _finish_cancellation(db: Session, actor: Actor, reg: Registration, reason: str) -> Registration:
    previous = load_registration(db, reg.previous_id or 0)
    if previous.status != "issued":
        raise Conflict("Only an issued registration can be cancelled.")
    entry = append_event(db, "registration.cancelled", {"number": previous.number, "reason": reason})
    cert = db.scalar(select(Certificate).where(Certificate.registration_id == previous.id))
    if cert is not None:
        cert.revoked_at, cert.revocation_reason, cert.revocation_log_index = utcnow(), reason, entry.index
    previous.revoked_at = utcnow()
    record_step(db, actor, previous, "cancelled", "cancelled", reason)
    record_step(db, actor, reg, "cancellation_approved", "issued", reason)
    reg.issued_at = utcnow()
    publish(db, RegistrationRevoked(registration_id=previous.id, reason=reason))
    db.flush()
    return reg


def due_for_issue(db: Session, now: datetime | None = None) -> list[int]:
    """Registrations whose public notice has ended without an open objection."""
    due = db.scalars(select(Registration.id).where(Registration.status == "public_notice",
                                                   Registration.notice_ends_at <= (now or utcnow()))
                     .order_by(Registration.id))
    return [i for i in due if not any(o.status == "open" for o in objections(db, i))]


def revoke(db: Session, actor: Actor, registration_id: int, reason: str, signer: Signer | None = None) -> Certificate:
    _require_operator(actor)
    reg = load_registration(db, registration_id)
    cert = db.scalar(select(Certificate).where(Certificate.registration_id == registration_id))
    if reg.status != "issued" or cert is None:
        raise Conflict("Only an issued registration can be revoked.")
    entry = append_event(db, "registration.revoked", {"number": reg.number, "reason": reason})
    now = utcnow()
    cert.revoked_at, cert.revocation_reason, cert.revocation_log_index = now, reason, entry.index
    reg.revoked_at, reg.review_reason = now, reason
    record_step(db, actor, reg, "revoked", "revoked", reason)
    publish(db, RegistrationRevoked(registration_id=reg.id, reason=reason))
    db.flush()
    if signer is not None:  # a bank checking encumbrances should see the revocation in a signed head
        sign_tree_head(db, signer)
    return cert


def certificate_of(db: Session, registration_id: int) -> Certificate | None:
    return db.scalar(select(Certificate).where(Certificate.registration_id == registration_id))


def certificate_by_number(db: Session, number: str) -> Certificate:
    cert = db.scalar(select(Certificate).where(Certificate.number == number.strip().upper()))
    if cert is None:
        raise NotFound("No certificate has the number {number}.", number=number[:30])
    return cert


def start_follow_up(db: Session, actor: Actor, previous_id: int, data: schemas.FollowUpIn) -> Registration:
    """A later registration of an issued asset. A change needs new data; the others reuse it."""
    previous = _holder_reg(db, actor, previous_id)
    if previous.status != "issued":
        raise Conflict("Only an issued registration can be changed, transferred, renewed or cancelled.")
    reg = Registration(holder_org_id=previous.holder_org_id, created_by=actor.user_id, reg_type=data.reg_type,
                       previous_id=previous.id, status="draft")
    for key in ("title_zh", "title_en", "description_zh", "description_en", "industry_code", "division_code",
                "time_coverage_start", "time_coverage_end", "update_frequency", "source", "lawful_basis",
                "contract_sha256", "contract_name", "rights", "classification", "personal_info",
                "suggested_classification", "suggested_personal_info"):
        setattr(reg, key, getattr(previous, key))
    if data.reg_type == "transfer":
        uscc = validate_uscc(data.transferee_uscc, "transferee_uscc")
        transferee = accounts.organisation_by_uscc(db, uscc)
        if transferee is None or transferee.status != "approved" or transferee.id == previous.holder_org_id:
            raise InvalidInput("{field}: no other approved organisation has this code.", field="transferee_uscc")
        reg.transferee_org_id, reg.transferor_confirmed_at = transferee.id, utcnow()
    db.add(reg)
    db.flush()
    if data.reg_type != "change":
        _copy_data(db, previous, reg)
        reg.status = "ready"
    record_step(db, actor, reg, f"{data.reg_type}_started", reg.status, data.reason)
    return reg


def start_enforced_transfer(db: Session, actor: Actor, previous_id: int, transferee_org_id: int,
                            reason: str) -> Registration:
    """A transfer of an issued asset to the bank that enforces its pledge on default (finance calls
    it, having checked that ``actor`` is the pledgee). The pledgor consented in the pledge, the
    pledgee asks: both confirmations are given, and the transfer is submitted at once for the
    exchange's ordinary review, public notice and issue."""
    previous = load_registration(db, previous_id)
    if previous.status != "issued":
        raise Conflict("Only an issued registration can be changed, transferred, renewed or cancelled.")
    reg = Registration(holder_org_id=previous.holder_org_id, created_by=actor.user_id, reg_type="transfer",
                       previous_id=previous.id, status="draft", transferee_org_id=transferee_org_id)
    for key in ("title_zh", "title_en", "description_zh", "description_en", "industry_code", "division_code",
                "time_coverage_start", "time_coverage_end", "update_frequency", "source", "lawful_basis",
                "contract_sha256", "contract_name", "rights", "classification", "personal_info",
                "suggested_classification", "suggested_personal_info"):
        setattr(reg, key, getattr(previous, key))
    now = utcnow()
    reg.transferor_confirmed_at, reg.transferee_confirmed_at, reg.submitted_at = now, now, now
    db.add(reg)
    db.flush()
    _copy_data(db, previous, reg)
    record_step(db, actor, reg, "transfer_started", "ready", reason)
    record_step(db, actor, reg, "submitted", "submitted", reason)
    db.flush()
    return reg


def _copyable(model: type[Any]) -> list[str]:
    return [str(c.key) for c in model.__table__.columns if c.key not in ("id", "registration_id")]


def _copy_data(db: Session, source: Registration, target: Registration) -> None:
    origin = load_registration(db, source.data_from_id) if source.data_from_id else source
    target.data_from_id = origin.id
    target.parquet_sha256, target.parquet_size = origin.parquet_sha256, origin.parquet_size
    target.row_count, target.column_count = origin.row_count, origin.column_count
    target.measurements = dict(origin.measurements or {})
    for f in origin.files:
        db.add(RegistrationFile(registration_id=target.id, position=f.position, name=f.name, sha256=f.sha256,
                                size=f.size, file_format=f.file_format, detected_encoding=f.detected_encoding,
                                row_count=f.row_count))
    for c in db.scalars(select(ColumnProfile).where(ColumnProfile.registration_id == origin.id)):
        db.add(ColumnProfile(**{k: getattr(c, k) for k in _copyable(ColumnProfile)}, registration_id=target.id))
    for p in db.scalars(select(PiiFinding).where(PiiFinding.registration_id == origin.id)):
        db.add(PiiFinding(**{k: getattr(p, k) for k in _copyable(PiiFinding)}, registration_id=target.id))
    for q in db.scalars(select(QualityScore).where(QualityScore.registration_id == origin.id)):
        db.add(QualityScore(**{k: getattr(q, k) for k in _copyable(QualityScore)}, registration_id=target.id))


def confirm_transfer(db: Session, actor: Actor, registration_id: int) -> Registration:
    reg = load_registration(db, registration_id)
    policy.require(actor, "transfer.confirm", permissions.registration(reg))
    if reg.reg_type != "transfer":
        raise PermissionDenied("Only the receiving organisation confirms a transfer.")
    if reg.transferee_confirmed_at is not None:
        raise Conflict("The transfer is already confirmed.")
    reg.transferee_confirmed_at = utcnow()
    record_step(db, actor, reg, "transfer_confirmed", reg.status)
    db.flush()
    return reg


__all__ = ["is_reviewer"]
