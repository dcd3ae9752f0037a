"""Registration rules, part 1: drafts, uploads, the pipeline job, the declaration, queries.

Services take ``(db, actor, ...)``, check permissions, never commit. The review workflow,
objections, reports and certificates are in :mod:`qianshu.registry.review`.

Permissions: a member of the holder organisation sees and edits its registrations; staff
(operator, reviewer, auditor) see all; anyone — even anonymous — sees the public facts of a
registration in public notice or later (never raw values). Every read of personal-data
findings is audited.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, selectinload

from qianshu.core import audit, jobs, policy
from qianshu.core.actor import Actor
from qianshu.core.blobs import BlobStore, BlobTooLarge, SourceChanged, open_blob_store, referenced_by_capabilities
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from qianshu.core.i18n import Label, translate
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.registry import permissions, schemas
from qianshu.registry.models import (
    EDITABLE_STATUSES,
    ColumnProfile,
    HistoryEntry,
    Objection,
    PiiFinding,
    ProviderReport,
    QualityScore,
    Registration,
    RegistrationFile,
)
from qianshu.registry.quality import score_quality
from qianshu.registry.spreadsheets import IngestOptions

PIPELINE_JOB = "registry.pipeline"
MAX_FILES = 20


def is_reviewer(actor: Actor) -> bool:
    return policy.allows(actor, "registration.review")


def is_holder(actor: Actor, reg: Registration) -> bool:
    """The holder organisation or a transfer's receiving one (the registration's own or counterparty)."""
    return bool(permissions.registration(reg).relations(actor) & {"own", "counterparty"})


def record_step(db: Session, actor: Actor, reg: Registration, action: str, to_status: str,
                reason: str = "") -> None:
    """Change the status and keep the step in the history (and the audit trail)."""
    db.add(HistoryEntry(registration_id=reg.id, actor_user_id=actor.user_id, actor_org_id=actor.org_id,
                        actor_label=actor.display_name[:200], action=action, from_status=reg.status,
                        to_status=to_status, reason=reason[:5000]))
    audit.record(db, actor, f"registration.{action}", target_type="registration", target_id=reg.id,
                 target_org_id=reg.holder_org_id, from_status=reg.status, to_status=to_status)
    reg.status = to_status


def load_registration(db: Session, registration_id: int) -> Registration:
    reg = db.get(Registration, registration_id)
    if reg is None:
        raise NotFound("Registration {id} does not exist.", id=registration_id)
    return reg


def get_registration(db: Session, actor: Actor, registration_id: int) -> Registration:
    """The registration, if the actor may see it (holder, staff, or public once in notice)."""
    reg = load_registration(db, registration_id)
    if policy.allows(actor, "registration.read", permissions.registration(reg)):
        return reg
    if reg.status in ("submitted", "under_review") and policy.allows(actor, "registration.assess"):
        return reg  # providers assess registrations under review
    raise NotFound("Registration {id} does not exist.", id=registration_id)


def get_editable(db: Session, actor: Actor, registration_id: int) -> Registration:
    reg = load_registration(db, registration_id)
    policy.require(actor, "registration.edit", permissions.registration(reg),
                   hidden=NotFound("Registration {id} does not exist.", id=registration_id))
    if reg.status == "processing" and _job_gave_up(db, reg):
        reg.status = "failed"  # the worker crashed too often; let the merchant try again
    if reg.status not in EDITABLE_STATUSES:
        raise Conflict("The registration cannot be changed while it is {status}.",
                       status=Label("registration status", reg.status))
    return reg


def _job_gave_up(db: Session, reg: Registration) -> bool:
    job = db.get(jobs.Job, reg.job_id) if reg.job_id else None
    return job is None or job.status == "failed"


def find_registration(db: Session, registration_id: int) -> Registration | None:
    """A registration by id, or None: for other services that check its holder and status."""
    return db.get(Registration, registration_id)


def same_asset_before(db: Session, registration_id: int) -> list[int]:
    """The registration and the ones its changes and renewals replaced, newest first: one asset
    under successive certificates (a transfer starts another holder's; it is not followed)."""
    chain: list[int] = []
    reg = db.get(Registration, registration_id)
    while reg is not None and reg.id not in chain:
        chain.append(reg.id)
        if reg.reg_type not in ("change", "renewal") or reg.previous_id is None:
            break
        reg = db.get(Registration, reg.previous_id)
    return chain


def current_of(db: Session, registration_id: int) -> Registration | None:
    """The issued registration that now stands for a transferred or superseded one (following
    transfers, changes and renewals to the newest), or None when it was not replaced."""
    found: Registration | None = None
    seen = {registration_id}
    while True:
        nxt = db.scalar(select(Registration).where(Registration.previous_id == (found.id if found else registration_id),
                                                   Registration.reg_type.in_(("change", "renewal", "transfer")),
                                                   Registration.issued_at.is_not(None))
                        .order_by(Registration.id).limit(1))
        if nxt is None or nxt.id in seen:
            return found
        seen.add(nxt.id)
        found = nxt


def successor_of(db: Session, registration_id: int) -> Registration | None:
    """The issued change or renewal that replaced a registration (its next version), or None: for
    delivery, whose Delta Sharing tables have one version per registration of the chain."""
    return db.scalar(select(Registration).where(Registration.previous_id == registration_id,
                                                Registration.reg_type.in_(("change", "renewal")),
                                                Registration.issued_at.is_not(None))
                     .order_by(Registration.id).limit(1))


def transfer_under_way(db: Session, registration_id: int) -> Registration | None:
    """A transfer of the registration submitted to the exchange and not yet decided (in review,
    returned for changes or on public notice), or None: for finance, which takes no new pledge over
    an asset whose rights are passing to someone else (a buyer in a forced sale, the enforcing bank)."""
    return db.scalar(select(Registration).where(
        Registration.previous_id == registration_id, Registration.reg_type == "transfer",
        Registration.status.in_(("submitted", "under_review", "returned", "public_notice")))
        .order_by(Registration.id).limit(1))


def registrations_by_id(db: Session, registration_ids: Iterable[int]) -> dict[int, Registration]:
    """Registrations by id, in one query: for the catalogue's DCAT export (number, time coverage)."""
    wanted = set(registration_ids)
    if not wanted:
        return {}
    return {r.id: r for r in db.scalars(select(Registration).where(Registration.id.in_(wanted)))}


def registrations_by_number(db: Session, numbers: Iterable[str]) -> dict[str, Registration]:
    """Registrations by their number, in one query: for the exchange's statistics (the industry and
    region of an asset sold without ever being listed)."""
    wanted = set(numbers)
    if not wanted:
        return {}
    return {r.number or "": r for r in db.scalars(select(Registration).where(Registration.number.in_(wanted)))}


def issued_of_holder(db: Session, org_id: int) -> list[Registration]:
    """An organisation's registrations with an issued certificate, newest first."""
    return list(db.scalars(select(Registration)
                           .where(Registration.holder_org_id == org_id, Registration.status == "issued")
                           .order_by(Registration.issued_at.desc())))


def public_registration(db: Session, registration_id: int) -> Registration:
    """For the catalogue: an issued registration, no actor needed."""
    reg = db.get(Registration, registration_id)
    if reg is None or reg.status != "issued":
        raise NotFound("Registration {id} does not exist.", id=registration_id)
    return reg


def list_registrations(db: Session, actor: Actor, status: str | None = None, limit: int = 200) -> list[Registration]:
    policy.require(actor, "registration.list")
    # The API lists each registration's files: load them in one query, not one per registration.
    query = select(Registration).options(selectinload(Registration.files)).order_by(Registration.id.desc()).limit(limit)
    if not policy.allows(actor, "registration.read_all"):
        visible = or_(Registration.holder_org_id == actor.org_id, Registration.transferee_org_id == actor.org_id)
        prefix = policy.division_prefix(actor.jurisdiction)
        if prefix and policy.allows(actor, "registration.read", policy.Resource(division=actor.jurisdiction)):
            # a caseworker also sees every registration whose region lies within their jurisdiction
            visible = or_(visible, Registration.division_code.startswith(prefix, autoescape=True))
        query = query.where(visible)
    if status:
        query = query.where(Registration.status == status)
    return list(db.scalars(query))


def public_notices(db: Session, limit: int = 200) -> list[Registration]:
    return list(db.scalars(select(Registration).where(Registration.status == "public_notice")
                           .order_by(Registration.notice_ends_at).limit(limit)))


def issued_registrations(db: Session, limit: int = 200) -> list[Registration]:
    return list(db.scalars(select(Registration).where(Registration.status == "issued")
                           .order_by(Registration.issued_at.desc()).limit(limit)))


def require_may_register(actor: Actor) -> None:
    policy.require(actor, "registration.create")


def create_registration(db: Session, actor: Actor, data: schemas.RegistrationCreate) -> Registration:
    require_may_register(actor)
    reg = Registration(holder_org_id=actor.org_id, created_by=actor.user_id, title_zh=data.title_zh,
                       title_en=data.title_en, status="draft")
    db.add(reg)
    db.flush()
    db.add(HistoryEntry(registration_id=reg.id, actor_user_id=actor.user_id, actor_org_id=actor.org_id,
                        actor_label=actor.display_name[:200], action="created", to_status="draft"))
    audit.record(db, actor, "registration.created", target_type="registration", target_id=reg.id,
                 target_org_id=reg.holder_org_id)
    return reg


FILE_NAME_MAX = 255
# Control characters, invisible formatting (bidirectional overrides that disguise ".exe" as
# ".pdf", zero-width spaces), surrogates and line or paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def plain_file_name(name: str) -> str | None:
    """The name (NFC, outer spaces trimmed) if it is one plain file name: no folder, nothing
    invisible or disguising, at most ``FILE_NAME_MAX`` characters; otherwise None."""
    text = unicodedata.normalize("NFC", name).strip()
    if (not text or text in (".", "..") or len(text) > FILE_NAME_MAX
            or any(c in "/\\" or unicodedata.category(c) in _REFUSED_CATEGORIES for c in text)):
        return None
    return text


def clean_file_name(name: str) -> str:
    """A data file's name: the folder part is dropped (tools send paths), the rest must be plain."""
    base_name = Path(name.replace("\\", "/")).name
    # Refused rather than cut: a cut name loses its extension, which names the file's format.
    if len(unicodedata.normalize("NFC", base_name).strip()) > FILE_NAME_MAX:
        raise InvalidInput("The file name is too long (at most {max} characters).", field="name",
                           code="file_name_too_long", max=FILE_NAME_MAX)
    base = plain_file_name(base_name)
    if base is None:
        raise InvalidInput("The file name is not allowed.", field="name")
    return base


def size_text(n: int) -> str:
    """A size limit as people read it, the same in both languages ("20 MiB", "1000 B")."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


def file_too_large(max_bytes: int, field: str | None = None) -> PayloadTooLarge:
    return PayloadTooLarge("The file is larger than the limit of {limit}.", field=field, limit=size_text(max_bytes))


def store_upload(store: BlobStore, chunks: Iterable[bytes], max_bytes: int, *, field: str | None = None,
                 declared_bytes: int | None = None) -> tuple[str, int]:
    """The one way an uploaded file reaches the blob store: the API's raw bodies (data files and
    documents) and the portal's form files alike. Streamed, never held whole; ``declared_bytes``
    (a request's Content-Length) over the limit is refused before a byte is read, a stream that
    passes it as soon as it does, with the same error naming ``field``; a broken stream leaves
    nothing behind."""
    if declared_bytes is not None and declared_bytes > max_bytes:
        raise file_too_large(max_bytes, field)
    try:
        return store.put_stream(chunks, max_bytes=max_bytes)
    except BlobTooLarge:
        raise file_too_large(max_bytes, field) from None


def store_local_file(store: BlobStore, path: Path, max_bytes: int,
                     progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    """Store a file of this machine (the CLI): a kernel copy, hashed alongside."""
    try:
        return store.put_file(path, max_bytes=max_bytes, progress=progress)
    except BlobTooLarge:
        raise file_too_large(max_bytes, "files") from None
    except SourceChanged:
        raise InvalidInput("{file}: the file changed while it was being stored; try again when nothing is "
                           "writing to it.", field="files", code="file_changed", file=path.name) from None


def blob_in_use(db: Session, digest: str) -> bool:
    checks = [
        select(RegistrationFile.id).where(RegistrationFile.sha256 == digest),
        select(Registration.id).where(or_(Registration.parquet_sha256 == digest,
                                          Registration.contract_sha256 == digest)),
        select(Objection.id).where(Objection.evidence_sha256 == digest),
        select(ProviderReport.id).where(ProviderReport.document_sha256 == digest),
    ]
    # ... and what other capabilities keep in the store (monitoring's visit photos, for one)
    return any(db.scalar(q.limit(1)) is not None for q in checks) or referenced_by_capabilities(db, digest)


def forget_blob(db: Session, store: BlobStore, digest: str) -> bool:
    """Delete a blob no registry row refers to any more (one a change replaced). True if deleted.

    Removed only if nobody stored the bytes again between the check and the removal; the one
    case left is a concurrent upload of the same bytes that stored them before the check and
    has not committed yet."""
    before = store.stat(digest)
    if before is None or blob_in_use(db, digest):
        return False
    same = (before.st_dev, before.st_ino, before.st_mtime_ns)
    return store.remove_if(digest, lambda st: (st.st_dev, st.st_ino, st.st_mtime_ns) == same)


def forget_new_blob(db: Session, store: BlobStore, digest: str) -> bool:
    """After the transaction recording a blob this request stored has failed: delete it if this
    request created it, nothing refers to it, and nobody has stored the same bytes meanwhile.
    A blob that existed before is left alone (an upload of the same bytes may be about to record
    it); if nothing ever does, the orphan sweep removes it."""
    if blob_in_use(db, digest):
        return False
    return store.discard_new(digest)


ORPHAN_GRACE_SECONDS = 3600.0


def sweep_orphan_blobs(db: Session, store: BlobStore, digests: Iterable[str], *, stored_before: float) -> int:
    """Remove those of ``digests`` that no row refers to and that were last stored before
    ``stored_before`` (a Unix time). Returns how many were removed.

    A younger blob may belong to an upload still being recorded, so it stays. An older one that
    a concurrent transaction is recording must have been stored again by that upload, which
    made it young: the removal checks the age again after taking the blob away atomically
    (``LocalBlobStore.remove_if``) and puts it back if so. Two sweepers at once are safe: only
    one can take a blob."""
    def old(st: os.stat_result) -> bool:
        return st.st_mtime < stored_before

    removed = 0
    for digest in digests:
        st = store.stat(digest)
        if st is not None and old(st) and not blob_in_use(db, digest) and store.remove_if(digest, old):
            removed += 1
    return removed


def add_file(db: Session, actor: Actor, registration_id: int, name: str, digest: str, size: int) -> RegistrationFile:
    reg = get_editable(db, actor, registration_id)
    if size == 0:
        raise InvalidInput("{file}: the file is empty.", field="files", code="unreadable_file", file=name)
    count = db.scalar(select(func.count()).select_from(RegistrationFile)
                      .where(RegistrationFile.registration_id == reg.id)) or 0
    if count >= MAX_FILES:
        raise InvalidInput("At most {max} files per registration.", field="files", max=MAX_FILES)
    position = (db.scalar(select(func.max(RegistrationFile.position))
                          .where(RegistrationFile.registration_id == reg.id)) or 0) + 1
    item = RegistrationFile(registration_id=reg.id, position=position, name=clean_file_name(name),
                            sha256=digest, size=size)
    db.add(item)
    if reg.status != "draft":  # new data: the profile must be computed again
        reg.status = "draft"
    reg.pipeline_error_code, reg.pipeline_error = "", ""
    audit.record(db, actor, "registration.file_added", target_type="registration", target_id=reg.id,
                 target_org_id=reg.holder_org_id, name=item.name, sha256=digest, size=size)
    db.flush()
    return item


def remove_file(db: Session, actor: Actor, registration_id: int, file_id: int) -> str:
    reg = get_editable(db, actor, registration_id)
    item = db.get(RegistrationFile, file_id)
    if item is None or item.registration_id != reg.id:
        raise NotFound("Not found.")
    digest = item.sha256
    db.delete(item)
    reg.status = "draft"
    db.flush()
    return digest


def set_ingest_options(db: Session, actor: Actor, registration_id: int, file_id: int,
                       options: schemas.IngestOptionsIn) -> RegistrationFile:
    """How a spreadsheet is to be read (header row, sheets, totals); the data must be processed again."""
    reg = get_editable(db, actor, registration_id)
    item = db.get(RegistrationFile, file_id)
    if item is None or item.registration_id != reg.id:
        raise NotFound("Not found.")
    available = (item.ingest_layout or {}).get("sheets_available") or []
    unknown = [s for s in options.sheets or [] if available and s not in available]
    if unknown:
        raise InvalidInput("{file}: the workbook has no sheet named {sheet}; its sheets are {sheets}.",
                           field="sheets", file=item.name, sheet=unknown[0], sheets="、".join(available))
    item.ingest_options = IngestOptions(**options.model_dump()).to_json()
    reg.status = "draft"
    audit.record(db, actor, "registration.ingest_options", target_type="registration", target_id=reg.id,
                 target_org_id=reg.holder_org_id, file=item.name, options=item.ingest_options)
    db.flush()
    return item


def start_processing(db: Session, actor: Actor, settings: Settings, registration_id: int) -> jobs.Job:
    """Queue the pipeline (normalise, profile, scan, score) as a background job."""
    reg = get_editable(db, actor, registration_id)
    if not reg.files:
        raise InvalidInput("Upload at least one file.", field="files", code="no_files")
    job = jobs.enqueue(db, PIPELINE_JOB, {"registration_id": reg.id},
                       org_id=reg.holder_org_id, created_by=actor.user_id)
    reg.job_id = job.id
    record_step(db, actor, reg, "processing_started", "processing")
    return job


def job_status(db: Session, actor: Actor, registration_id: int) -> schemas.JobOut:
    reg = get_registration(db, actor, registration_id)
    job = db.get(jobs.Job, reg.job_id) if reg.job_id else None
    lang_error = pipeline_error(reg, "en")
    return schemas.JobOut(id=job.id if job else 0, status=job.status if job else "none",
                          progress=job.progress if job else 0.0, stage=job.stage if job else "",
                          error_code=reg.pipeline_error_code, error=lang_error, registration_status=reg.status)


def pipeline_error(reg: Registration, lang: str) -> str:
    if not reg.pipeline_error:
        return ""
    try:
        stored = json.loads(reg.pipeline_error)
        return translate(stored["message"], lang, **stored.get("params", {}))
    except (ValueError, KeyError, TypeError):
        return reg.pipeline_error


def declaration_dict(reg: Registration) -> dict[str, Any]:
    return {"time_coverage_start": reg.time_coverage_start, "time_coverage_end": reg.time_coverage_end,
            "update_frequency": reg.update_frequency, "description_zh": reg.description_zh,
            "description_en": reg.description_en}


def rescore(db: Session, reg: Registration, today: date | None = None) -> None:
    """Recompute the six quality scores from the measurements, declaration and reviewer."""
    if not reg.measurements:
        return
    db.execute(delete(QualityScore).where(QualityScore.registration_id == reg.id))
    reviewer = reg.declared_quality.get("reviewer") if reg.declared_quality else None
    for s in score_quality(reg.measurements, declaration_dict(reg), today or utcnow().date(), reviewer):
        db.add(QualityScore(registration_id=reg.id, indicator=s.indicator, score=s.score, basis=s.basis,
                            reason=s.reason, detail={"params": s.params}))
    db.flush()


def update_declaration(db: Session, actor: Actor, registration_id: int, data: schemas.Declaration) -> Registration:
    reg = get_editable(db, actor, registration_id)
    if data.time_coverage_start and data.time_coverage_end and data.time_coverage_start > data.time_coverage_end:
        raise InvalidInput("{field}: the end of the time coverage is before its start.",
                           field="time_coverage_end")
    for key, value in data.model_dump().items():
        setattr(reg, key, value)
    rescore(db, reg)
    audit.record(db, actor, "registration.declared", target_type="registration", target_id=reg.id,
                 target_org_id=reg.holder_org_id)
    db.flush()
    return reg


def column_profiles(db: Session, registration_id: int) -> list[ColumnProfile]:
    return list(db.scalars(select(ColumnProfile).where(ColumnProfile.registration_id == registration_id)
                           .order_by(ColumnProfile.position)))


def mask_value(value: object, kind: str) -> object:
    """The one masking of a personal-information value (also what the catalogue shows)."""
    from qianshu.registry import pii

    return pii.mask_value(value, kind)


def mask_rows(columns: list[str], rows: list[list[object]], kinds: dict[str, str]) -> list[list[object]]:
    """A copy of ``rows`` with every value of a column in ``kinds`` (column → PII kind) masked."""
    from qianshu.registry import pii

    return pii.mask_rows(columns, rows, kinds)


def pii_columns(db: Session, registration_id: int, *, sensitive_first: bool = False) -> dict[str, str]:
    """Column → the PII kind found there: the most frequent one when several, or with
    ``sensitive_first`` a sensitive kind before any other (what masking needs)."""
    found: dict[str, tuple[bool, float, str]] = {}
    for f in db.scalars(select(PiiFinding).where(PiiFinding.registration_id == registration_id)):
        rank = (f.sensitive and sensitive_first, f.share, f.kind)
        if f.column_name not in found or rank[:2] > found[f.column_name][:2]:
            found[f.column_name] = rank
    return {column: kind for column, (_sensitive, _share, kind) in found.items()}


def sensitive_pii_kinds(db: Session, registration_id: int) -> list[str]:
    """The kinds of sensitive personal information the scan found (resident ID, bank card ...)."""
    return sorted(set(db.scalars(select(PiiFinding.kind).where(PiiFinding.registration_id == registration_id,
                                                               PiiFinding.sensitive.is_(True)))))


def pii_findings(db: Session, actor: Actor, registration_id: int) -> list[PiiFinding]:
    """The findings (masked examples only); every access is audited."""
    reg = get_registration(db, actor, registration_id)
    policy.require(actor, "registration.pii.read", permissions.registration(reg))
    audit.record(db, actor, "registration.pii_viewed", target_type="registration", target_id=reg.id,
                 target_org_id=reg.holder_org_id)
    return list(db.scalars(select(PiiFinding).where(PiiFinding.registration_id == reg.id)
                           .order_by(PiiFinding.column_name, PiiFinding.kind)))


def quality_report(db: Session, registration_id: int) -> list[QualityScore]:
    return list(db.scalars(select(QualityScore).where(QualityScore.registration_id == registration_id)
                           .order_by(QualityScore.id)))


def history(db: Session, registration_id: int) -> list[HistoryEntry]:
    return list(db.scalars(select(HistoryEntry).where(HistoryEntry.registration_id == registration_id)
                           .order_by(HistoryEntry.id)))


def sample_rows(db: Session, settings: Settings, registration_id: int,
                limit: int = 20) -> tuple[list[str], list[list[object]]]:
    """Raw rows of the normalised Parquet (the catalogue masks them before showing them)."""
    reg = load_registration(db, registration_id)
    data = load_registration(db, reg.data_from_id) if reg.data_from_id else reg
    if not data.parquet_sha256:
        return [], []
    # The first rows straight from the Parquet file, read with Arrow: opening a DuckDB database (the
    # bounded connection the queries use) costs about 22 ms of CPU, forty times the read, and a
    # product page after a restart pays it once per product and worker (docs/load.md, "The tail, in time").
    # No query is run, so there is nothing for DuckDB's file allow-list to guard. Imported here:
    # the CLI commands that use this module need no Arrow.
    import pyarrow.parquet as pq

    path = open_blob_store(settings).path(data.parquet_sha256)
    count = max(0, min(int(limit), 1000))
    with pq.ParquetFile(path) as parquet:
        names = list(parquet.schema_arrow.names)
        batch = next(parquet.iter_batches(batch_size=count), None) if count else None
    if batch is None:
        return names, []
    columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
    return names, [list(row) for row in zip(*columns, strict=True)]


def issued_dates(db: Session) -> list[datetime]:
    """When each registration got its certificate (for "registered resources over time")."""
    return list(db.scalars(select(Registration.issued_at).where(Registration.issued_at.is_not(None))
                           .order_by(Registration.issued_at)))
