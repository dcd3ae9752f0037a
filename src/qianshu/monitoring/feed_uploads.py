"""A department's feed file, received in the portal or the API and validated by a job, so that a
county's million-row household registration (about 20 s of checking) does not hold a request.

``receive`` checks what is cheap (the feed, year and division, the permission, the size, an empty
file), stores the file in the blob store, records a ``monitoring_feed_uploads`` row and queues the
job ``monitoring.feed_upload``. The job (``validate_upload_job``) runs ``feeds.store_feed`` as the
uploader: the good rows become the feed's next version, in the same transaction as the upload is
marked ``stored``; a file refused whole (damaged, of another year, columns missing, no valid row)
marks it ``refused`` with the error as a message id and its parameters, shown in the reader's
language. A job retried after a crash finds a stored or refused upload done and does nothing.

The file's blob is kept from the orphan sweep while its upload waits or runs (``blob_in_use``);
a refused file's blob is left to the sweep, so a refusal still keeps nothing of the file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core import audit, jobs
from qianshu.core.actor import Actor
from qianshu.core.blobs import BlobStore
from qianshu.core.errors import NotFound, PayloadTooLarge, QianshuError
from qianshu.core.i18n import Label, translate
from qianshu.core.policy import Resource, require
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.monitoring import feeds
from qianshu.monitoring.feeds_files import bad_file
from qianshu.monitoring.models import FeedUpload, FeedVersion
from qianshu.monitoring.settings import MonitoringSettings

log = logging.getLogger(__name__)
JOB_KIND = "monitoring.feed_upload"
WAITING = ("queued", "running")
INTERNAL = "The feed could not be checked because of an internal error; it has been logged."
_ACTOR_FIELDS = ("user_id", "org_id", "org_role", "staff_role", "org_status", "org_type", "display_name",
                 "jurisdiction")


def receive(db: Session, actor: Actor, settings: Settings, blobs: BlobStore, source: Path,
            target: feeds.Upload) -> FeedUpload:
    """Store the file and queue its validation; refuses at once what needs no reading."""
    division = feeds.validate_target(target)
    require(actor, "monitoring.feeds.upload", feeds.upload_resource(division))
    limit = settings.section(MonitoringSettings).feed_max_bytes
    size = source.stat().st_size
    if size > limit:
        raise PayloadTooLarge("The file is larger than {limit} MB.", field="file", limit=limit // 2**20)
    if size == 0:
        raise bad_file("{file}: the file is empty.", target.name)
    digest, size = blobs.put_file(source)
    row = FeedUpload(feed=target.feed, year=target.year, division_code=division, source_name=target.name[:255],
                     encoding=target.encoding[:16], source_digest=digest, size=size, org_id=actor.org_id,
                     uploaded_by=actor.user_id)
    db.add(row)
    db.flush()
    return queue_check(db, actor, row)


def queue_check(db: Session, actor: Actor, row: FeedUpload) -> FeedUpload:
    """Queue the validation job of a stored file (an upload, or a delivery through data sharing:
    shared_feeds.py), run as ``actor``."""
    job = jobs.enqueue(db, JOB_KIND, {"upload_id": row.id, "actor": {k: getattr(actor, k) for k in _ACTOR_FIELDS}},
                       org_id=actor.org_id, created_by=actor.user_id)
    row.job_id = job.id
    audit.record(db, actor, "monitoring.feed_received", target_type="monitoring_feed_upload", target_id=row.id,
                 feed=row.feed, year=row.year, division=row.division_code, size=row.size, sha256=row.source_digest,
                 sharing_request=row.sharing_request_id)
    return row


def get_upload(db: Session, actor: Actor, upload_id: int) -> FeedUpload:
    row = db.get(FeedUpload, upload_id)
    if row is None:
        raise NotFound("No such feed upload.")
    require(actor, "monitoring.feeds.read", Resource(division=row.division_code))
    return row


def recent_uploads(db: Session, actor: Actor, limit: int = 20) -> list[FeedUpload]:
    """The uploads of the actor's organisation, newest first (those waiting, and the latest done)."""
    rows = db.scalars(select(FeedUpload).where(FeedUpload.org_id == actor.org_id)
                      .order_by(FeedUpload.id.desc()).limit(limit)).all()
    return list(rows)


def job_progress(db: Session, row: FeedUpload) -> tuple[float, str]:
    job = db.get(jobs.Job, row.job_id) if row.job_id else None
    if row.status not in WAITING:
        return 1.0, ""
    return (job.progress, job.stage) if job is not None else (0.0, "")


def _stored_param(value: Any) -> Any:
    """A refusal's parameter as JSON keeps: a label (the feed's name) with its context, so it is
    shown translated later, not as its code."""
    if isinstance(value, Label):
        return {"label": value.context, "value": str(value)}
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _param(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"label", "value"}:
        return Label(str(value["label"]), str(value["value"]))
    return value


def error_text(row: FeedUpload, lang: str) -> str:
    """A refusal in the reader's language."""
    detail = row.error or {}
    raw = detail.get("params")
    params: dict[str, Any] = {k: _param(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    return translate(str(detail.get("message") or ""), lang, **params) if detail else ""


def upload_json(db: Session, row: FeedUpload, lang: str) -> dict[str, Any]:
    fraction, stage = job_progress(db, row)
    version = db.get(FeedVersion, row.version_id) if row.version_id else None
    return {"id": row.id, "status": row.status, "feed": row.feed, "year": row.year, "division": row.division_code,
            "source_name": row.source_name, "size": row.size, "sha256": row.source_digest, "job_id": row.job_id,
            "progress": fraction, "stage": stage, "version_id": row.version_id,
            "version": version.version if version else None,
            "error": {"code": (row.error or {}).get("code"), "field": (row.error or {}).get("field"),
                      "detail": error_text(row, lang)} if row.error else None,
            "sharing_request_id": row.sharing_request_id, "sharing_file_version": row.sharing_file_version,
            "created_at": row.created_at.isoformat(),
            "finished_at": row.finished_at.isoformat() if row.finished_at else None}


def _finish(db: Session, upload_id: int, **values: Any) -> FeedUpload:
    row = db.get_one(FeedUpload, upload_id)
    for key, value in values.items():
        setattr(row, key, value)
    row.finished_at = utcnow()
    return row


def refuse(db: Session, actor: Actor, upload_id: int, exc: QianshuError) -> FeedUpload:
    """Mark the upload refused, with the error kept to be shown in the reader's language."""
    row = _finish(db, upload_id, status="refused", error={
        "message": exc.message, "params": {k: _stored_param(v) for k, v in exc.params.items()},
        "code": exc.code, "field": exc.field})
    audit.record(db, actor, "monitoring.feed_refused", target_type="monitoring_feed_upload",
                 target_id=upload_id, code=exc.code, reason=exc.bilingual()[:500])
    return row


def validate_upload_job(context: jobs.JobContext, job_id: int, progress: jobs.Progress) -> None:
    """``monitoring.feed_upload``: validate the stored file and record its version, or its refusal."""
    database, blobs = context.database, context.blobs
    with database.unit_of_work() as db:
        job = db.get_one(jobs.Job, job_id)
        upload = db.get(FeedUpload, int(job.payload["upload_id"]))
        if upload is None or upload.status not in WAITING:
            return  # done before a crash, or gone
        upload.status = "running"
        actor = Actor(via="system", **{k: v for k, v in dict(job.payload.get("actor") or {}).items()
                                       if k in _ACTOR_FIELDS})
        upload_id, digest = upload.id, upload.source_digest
        target = feeds.Upload(feed=upload.feed, year=upload.year, division=upload.division_code,
                              name=upload.source_name, encoding=upload.encoding or "auto",
                              sharing_request_id=upload.sharing_request_id,
                              sharing_file_version=upload.sharing_file_version)
    try:
        with database.unit_of_work() as db:
            def told(fraction: float, stage: str = "") -> None:
                progress(fraction * 0.95, stage)

            version = feeds.store_feed(db, actor, blobs, blobs.path(digest), target, progress=told)
            _finish(db, upload_id, status="stored", version_id=version.id, error=None)
    except QianshuError as exc:
        with database.unit_of_work() as db:
            refuse(db, actor, upload_id, exc)
    except Exception:
        log.exception("feed upload %s failed", upload_id)
        with database.unit_of_work() as db:
            _finish(db, upload_id, status="refused", error={"message": INTERNAL, "params": {}, "code": "internal",
                                                            "field": None})
        raise
    progress(1.0, "done")


def blob_in_use(db: Session, digest: str) -> bool:
    """Whether a case's visit files, a feed version, or an upload still waiting for its check keeps
    ``digest`` (the manifest's ``blob_references``: the registry's orphan sweep keeps it)."""
    from qianshu.monitoring import cases

    if cases.blob_in_use(db, digest):
        return True
    version = select(FeedVersion.id).where((FeedVersion.source_digest == digest) | (FeedVersion.rows_digest == digest)
                                           | (FeedVersion.rejects_digest == digest))
    waiting = select(FeedUpload.id).where(FeedUpload.source_digest == digest, FeedUpload.status.in_(WAITING))
    return db.scalar(version.limit(1)) is not None or db.scalar(waiting.limit(1)) is not None
