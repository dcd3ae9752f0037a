"""Supporting documents of a registration: files of any kind (PDF, images, office documents),
kept in the content-addressed blob store and named by their SHA-256 in the tables.

- **purchase contract** (``Registration.contract_*``): uploaded by a member of the holder
  organisation while the registration is editable (replacing it forgets the old blob if nothing
  else refers to it); downloaded by the holder and exchange staff.
- **objection evidence** (``Objection.evidence_*``): uploaded by whoever filed the objection (the
  user or their organisation) while it is open; downloaded by the objector's organisation, the
  holder and exchange staff.
- **report document** (``ProviderReport.document_*``): uploaded once by the service provider that
  attached the report, before the registration is issued; the report's statement is signed again
  so that the attestation covers the document's SHA-256. Downloaded by whoever may see the
  registration.

A registration whose source is ``purchased`` cannot be submitted without a contract
(:func:`qianshu.registry.review.submit`). Every download is written to the audit trail.

No bytes pass through here: the caller stores them first (``service.store_upload``) and hands
over a :class:`Received`. The ``may_upload_*`` checks let the caller refuse before the bytes
arrive; the ``attach_*`` functions check again, because things may change meanwhile. A blob a
new document replaces is returned in :attr:`Attached.replaced`, to be forgotten after the
commit (:func:`forget_unused`), never before it: a rolled-back change still refers to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from qianshu.core import audit, policy
from qianshu.core.actor import Actor
from qianshu.core.blobs import BlobStore
from qianshu.core.db import Database
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import Label
from qianshu.core.signing import Signer, sign_document
from qianshu.registry import permissions, review, schemas, service
from qianshu.registry.models import Objection, ProviderReport, Registration

# A report's document is added while the registration is on its way to a certificate and a
# provider can see it (service.get_registration).
REPORT_DOCUMENT_STATUSES = ("submitted", "under_review", "public_notice")


@dataclass(frozen=True)
class Received:
    """A document the caller has put in the blob store: the name it came with, digest, size."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Attached:
    """A document now recorded: its clean name, digest and size, and the blob it replaced."""

    name: str
    sha256: str
    size: int
    replaced: str | None = None


@dataclass(frozen=True)
class Stored:
    """A document to send: the name it was stored under and its digest."""

    name: str
    sha256: str


def clean_name(name: str) -> str:
    """The name as given (outer spaces trimmed), or a 422: a document name is one name, not a
    path, and holds nothing that could disguise it (``service.plain_file_name``)."""
    text = service.plain_file_name(name)
    if text is None:
        raise InvalidInput("{field}: the document name is not allowed (one file name without folders or control "
                           "characters, at most 255 characters).", field="name")
    return text


def _require_bytes(document: Received) -> None:
    if document.size == 0:
        raise InvalidInput("{file}: the file is empty.", field="file", file=document.name)


def _attached(name: str, document: Received, previous: str | None) -> Attached:
    return Attached(name, document.sha256, document.size, previous if previous != document.sha256 else None)


def forget_unused(database: Database, store: BlobStore, digest: str | None) -> None:
    """After the commit (or the rollback) of a request: delete a blob nothing refers to any more."""
    if digest:
        with database.unit_of_work(write=False) as db:
            service.forget_blob(db, store, digest)


def forget_new(database: Database, store: BlobStore, digest: str) -> None:
    """After the transaction that was to record a blob this request stored has failed."""
    with database.unit_of_work(write=False) as db:
        service.forget_new_blob(db, store, digest)


def _audit_download(db: Session, actor: Actor, reg: Registration, what: str, stored: Stored,
                    **detail: object) -> Stored:
    audit.record(db, actor, f"registration.{what}_downloaded", target_type="registration", target_id=reg.id,
                 target_org_id=reg.holder_org_id, name=stored.name, sha256=stored.sha256, **detail)
    return stored


# --- purchase contract ----------------------------------------------------------------------

def may_upload_contract(db: Session, actor: Actor, registration_id: int, name: str) -> None:
    """Before the bytes arrive: a member of the holder organisation, the registration editable."""
    service.get_editable(db, actor, registration_id)
    clean_name(name)


def attach_contract(db: Session, actor: Actor, registration_id: int, document: Received) -> Attached:
    reg = service.get_editable(db, actor, registration_id)
    name = clean_name(document.name)
    _require_bytes(document)
    previous = reg.contract_sha256
    reg.contract_sha256, reg.contract_name = document.sha256, name
    audit.record(db, actor, "registration.contract_attached", target_type="registration", target_id=reg.id,
                 target_org_id=reg.holder_org_id, name=name, sha256=document.sha256, size=document.size,
                 replaced=previous)
    db.flush()
    return _attached(name, document, previous)


def may_download_contract(actor: Actor, reg: Registration) -> bool:
    return policy.allows(actor, "registration.contract.read", permissions.registration(reg))


def contract(db: Session, actor: Actor, registration_id: int) -> Stored:
    """The purchase contract, for the holder and exchange staff (audited)."""
    reg = service.get_registration(db, actor, registration_id)
    policy.require(actor, "registration.contract.read", permissions.registration(reg))
    if not reg.contract_sha256:
        raise NotFound("No purchase contract has been uploaded.")
    return _audit_download(db, actor, reg, "contract", Stored(reg.contract_name, reg.contract_sha256))


# --- objection evidence ---------------------------------------------------------------------

def _objection(db: Session, objection_id: int) -> tuple[Objection, Registration]:
    """The objection and the registration it objects to."""
    objection = db.get(Objection, objection_id)
    if objection is None:
        raise NotFound("Not found.")
    return objection, db.get_one(Registration, objection.registration_id)


def _own_open_objection(db: Session, actor: Actor, objection_id: int) -> tuple[Objection, Registration]:
    policy.require(actor, "objection.file")
    objection, reg = _objection(db, objection_id)
    policy.require(actor, "objection.evidence.upload", permissions.objection(objection, reg))
    if objection.status != "open":
        raise Conflict("The objection has been decided; its evidence can no longer change.")
    return objection, reg


def may_upload_evidence(db: Session, actor: Actor, objection_id: int, name: str) -> None:
    _own_open_objection(db, actor, objection_id)
    clean_name(name)


def attach_evidence(db: Session, actor: Actor, objection_id: int, document: Received) -> Attached:
    objection, reg = _own_open_objection(db, actor, objection_id)
    name = clean_name(document.name)
    _require_bytes(document)
    previous = objection.evidence_sha256
    objection.evidence_sha256, objection.evidence_name = document.sha256, name
    audit.record(db, actor, "registration.evidence_attached", target_type="registration", target_id=reg.id,
                 target_org_id=reg.holder_org_id, objection_id=objection.id, name=name, sha256=document.sha256,
                 size=document.size, replaced=previous)
    db.flush()
    return _attached(name, document, previous)


def file_objection(db: Session, actor: Actor, registration_id: int, grounds: str,
                   evidence: Received | None = None) -> Objection:
    """An objection with its evidence given at once (the portal's form)."""
    if evidence is None:
        return review.file_objection(db, actor, registration_id, grounds)
    name = clean_name(evidence.name)
    _require_bytes(evidence)
    return review.file_objection(db, actor, registration_id, grounds, evidence=(evidence.sha256, name))


def may_download_evidence(actor: Actor, reg: Registration, objection: Objection) -> bool:
    return policy.allows(actor, "objection.evidence.read", permissions.objection(objection, reg))


def evidence(db: Session, actor: Actor, objection_id: int) -> Stored:
    """An objection's evidence, for the objector's organisation, the holder and staff (audited)."""
    objection, reg = _objection(db, objection_id)
    policy.require(actor, "objection.evidence.read", permissions.objection(objection, reg))
    if not objection.evidence_sha256:
        raise NotFound("The objection has no evidence.")
    return _audit_download(db, actor, reg, "evidence", Stored(objection.evidence_name, objection.evidence_sha256),
                           objection_id=objection.id)


@dataclass(frozen=True)
class Kind:
    """A document an owner (registration, objection) has one of, that a new upload replaces."""

    label: str
    may_upload: Callable[[Session, Actor, int, str], None]
    attach: Callable[[Session, Actor, int, Received], Attached]
    download: Callable[[Session, Actor, int], Stored]


CONTRACT = Kind("contract", may_upload_contract, attach_contract, contract)
EVIDENCE = Kind("evidence", may_upload_evidence, attach_evidence, evidence)


# --- service-provider report document -------------------------------------------------------

def _report(db: Session, registration_id: int, report_id: int) -> ProviderReport:
    report = db.get(ProviderReport, report_id)
    if report is None or report.registration_id != registration_id:
        raise NotFound("Not found.")
    return report


def _own_report(db: Session, actor: Actor, registration_id: int, report_id: int) -> tuple[Registration,
                                                                                           ProviderReport]:
    reg = service.get_registration(db, actor, registration_id)
    report = _report(db, reg.id, report_id)
    policy.require(actor, "report.document.upload", permissions.report(report))
    if report.document_sha256:
        raise Conflict("The report already has its document; attach a new report instead.")
    if reg.status not in REPORT_DOCUMENT_STATUSES:
        raise Conflict("A report's document cannot be added while the registration is {status}.",
                       status=Label("registration status", reg.status))
    return reg, report


def may_upload_report_document(db: Session, actor: Actor, registration_id: int, report_id: int,
                               name: str) -> None:
    _own_report(db, actor, registration_id, report_id)
    clean_name(name)


def attach_report_document(db: Session, actor: Actor, signer: Signer, registration_id: int, report_id: int,
                           document: Received) -> ProviderReport:
    """Add the document to the report and sign its statement again, now with the document's SHA-256."""
    reg, report = _own_report(db, actor, registration_id, report_id)
    name = clean_name(document.name)
    _require_bytes(document)
    statement = {**report.statement, "document_sha256": document.sha256}
    report.document_sha256, report.document_name = document.sha256, name
    report.statement, report.signature, report.key_id = statement, sign_document(signer, statement), signer.key_id
    service.record_step(db, actor, reg, "report_document_attached", reg.status, f"{report.title}: {name}")
    db.flush()
    return report


def attach_report(db: Session, actor: Actor, signer: Signer, registration_id: int, data: schemas.ReportIn,
                  document: Received | None = None) -> ProviderReport:
    """A report with its document given at once (the portal's form): signed once, covering it."""
    if document is None:
        return review.attach_report(db, actor, signer, registration_id, data)
    name = clean_name(document.name)
    _require_bytes(document)
    return review.attach_report(db, actor, signer, registration_id, data, document=(document.sha256, name))


def report_document(db: Session, actor: Actor, registration_id: int, report_id: int) -> Stored:
    """A report's document, for whoever may see the registration (audited)."""
    reg = service.get_registration(db, actor, registration_id)
    report = _report(db, reg.id, report_id)
    if not report.document_sha256:
        raise NotFound("The report has no document.")
    return _audit_download(db, actor, reg, "report_document", Stored(report.document_name, report.document_sha256),
                           report_id=report.id)
