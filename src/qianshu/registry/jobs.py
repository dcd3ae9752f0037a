"""The pipeline as a durable background job (``registry.pipeline``).

Idempotent, so a job requeued after its worker died simply runs again: the work folder of
the job is wiped at start, the Parquet goes into the content-addressed store (same bytes,
same name), and the results replace earlier ones in a single transaction that also moves
the registration from ``processing`` to ``ready`` (or ``failed`` with a bilingual reason).
If that transaction fails, the Parquet blob is removed again unless something refers to it.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from qianshu.core.actor import SYSTEM
from qianshu.core.analytics import Limits
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.core.jobs import Handler, Job, JobContext, Progress, each_in_its_own_transaction
from qianshu.core.settings import Settings
from qianshu.registry import service
from qianshu.registry.ingest import SourceFile
from qianshu.registry.models import ColumnProfile, PiiFinding, Registration, RegistrationFile
from qianshu.registry.pipeline import PipelineResult, run_pipeline
from qianshu.registry.service import (
    ORPHAN_GRACE_SECONDS,
    PIPELINE_JOB,
    forget_new_blob,
    record_step,
    rescore,
)
from qianshu.registry.spreadsheets import IngestOptions

log = logging.getLogger(__name__)


def run_registration_pipeline(context: JobContext, job_id: int, progress: Progress,
                              ahead: Callable[[list[SourceFile]], PipelineResult | None] | None = None) -> None:
    """The payload names the registration; the files are blobs of the context's store, and the
    work folder is the settings' (payloads queued by earlier versions also carry ``data_dir``, which is
    no longer read: such a job runs against this process's store like any other). ``ahead``
    gives the result of these sources if it was computed already (``registry/ahead.py``)."""
    database, store = context.database, context.blobs
    with database.unit_of_work(write=False) as db:
        job = db.get_one(Job, job_id)
        registration_id = int(job.payload["registration_id"])
        old_data_dir = job.payload.get("data_dir")
        reg = db.get(Registration, registration_id)
        if reg is None or reg.status != "processing" or reg.job_id != job_id:
            return  # superseded or already finished: nothing to do
        files = [(f.id, f.sha256, f.name) for f in reg.files]
        options = [IngestOptions.from_json(f.ingest_options) for f in reg.files]
    if old_data_dir is not None and Path(str(old_data_dir)).resolve() != context.settings.data_dir:
        log.warning("job %s was queued for the data folder %s; running it against %s", job_id, old_data_dir,
                    context.settings.data_dir)
    work = context.settings.work_dir / "registry" / f"job-{job_id}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        sources = [SourceFile(store.path(sha), name, opts)
                   for (_id, sha, name), opts in zip(files, options, strict=True)]
        for src in sources:
            if not src.path.exists():
                raise InvalidInput("{file}: the uploaded bytes are missing from the blob store.",
                                   field="files", file=src.name)
        result = (ahead(sources) if ahead else None) or run_pipeline(
            sources, work, lambda f, stage: progress(f, stage), limits=Limits.from_settings(context.settings))
        digest, size = store.put_file(result.parquet_path)
        try:
            _save(database, registration_id, job_id, files, result, digest, size)
        except BaseException:
            with database.unit_of_work(write=False) as db:
                forget_new_blob(db, store, digest)
            raise
    except QianshuError as exc:
        _fail(database, registration_id, job_id, exc.code, exc.message, exc.params)
        raise
    except Exception as exc:
        log.exception("registration pipeline %s failed", registration_id)
        _fail(database, registration_id, job_id, "internal",
              "The data could not be processed because of an internal error; it has been logged.", {})
        raise QianshuError("The data could not be processed because of an internal error; it has been logged.",
                           code="pipeline_failed") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _save(database: Database, registration_id: int, job_id: int, files: list[tuple[int, str, str]],
          result: PipelineResult, digest: str, size: int) -> None:
    with database.unit_of_work() as db:
        reg = db.get(Registration, registration_id)
        if reg is None or reg.status != "processing" or reg.job_id != job_id:
            return
        db.execute(delete(ColumnProfile).where(ColumnProfile.registration_id == reg.id))
        db.execute(delete(PiiFinding).where(PiiFinding.registration_id == reg.id))
        by_id = {f.id: f for f in db.scalars(select(RegistrationFile).where(
            RegistrationFile.registration_id == reg.id))}
        for (file_id, _sha, _name), info in zip(files, result.files, strict=True):
            row = by_id.get(file_id)
            if row is not None:
                row.file_format, row.detected_encoding, row.row_count = (
                    info.file_format, info.encoding, info.row_count)
                row.ingest_layout = info.layout.to_json() if info.layout else {}
        sources = result.source_names
        for col in result.stats.columns:
            masked_top = col.top_values
            if any(f.column == col.name for f in result.findings):
                masked_top = []  # top values of a personal-data column would be raw values
            db.add(ColumnProfile(
                registration_id=reg.id, position=col.position, name=col.name,
                source_name=(sources[col.position] if col.position < len(sources) else col.name)[:255],
                inferred_type=col.inferred_type[:32], null_count=col.null_count, null_rate=col.null_rate,
                distinct_count=col.distinct_count, distinct_is_estimate=True,
                min_value=None if masked_top is not col.top_values else col.min_value,
                max_value=None if masked_top is not col.top_values else col.max_value,
                mean=col.mean, top_values=masked_top, min_length=col.min_length, max_length=col.max_length,
                mean_length=col.mean_length, histogram=col.histogram, type_conformance=col.type_conformance))
        for f in result.findings:
            db.add(PiiFinding(registration_id=reg.id, column_name=f.column[:255], kind=f.kind,
                              sensitive=f.sensitive, share=f.share, scanned=f.scanned, matched=f.matched,
                              masked_example=f.masked_example[:100]))
        reg.parquet_sha256, reg.parquet_size = digest, size
        reg.row_count, reg.column_count = result.stats.row_count, len(result.stats.columns)
        reg.measurements = _jsonable(result.measurements)
        reg.suggested_personal_info = result.suggested_personal_info
        reg.suggested_classification = result.suggested_classification
        reg.pipeline_error_code, reg.pipeline_error = "", ""
        record_step(db, SYSTEM, reg, "processing_finished", "ready")
        db.flush()
        rescore(db, reg)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _fail(database: Database, registration_id: int, job_id: int, code: str, message: str,
          params: dict[str, Any]) -> None:
    with database.unit_of_work() as db:
        fail_registration(db, registration_id, job_id, code, message, params)


def fail_registration(db: Session, registration_id: int, job_id: int, code: str, message: str,
                      params: dict[str, Any]) -> None:
    """Move a registration still waiting on this job from ``processing`` to ``failed``."""
    reg = db.get(Registration, registration_id)
    if reg is None or reg.job_id != job_id or reg.status != "processing":
        return
    reg.pipeline_error_code = code
    reg.pipeline_error = json.dumps({"message": message, "params": _jsonable(params)}, ensure_ascii=False)
    record_step(db, SYSTEM, reg, "processing_failed", "failed", reason=message)


def reopen_registration(db: Session, registration_id: int, job_id: int) -> None:
    """Move a registration that this job failed back to ``processing`` (its job was retried)."""
    reg = db.get(Registration, registration_id)
    if reg is None or reg.job_id != job_id or reg.status != "failed":
        return
    reg.pipeline_error_code, reg.pipeline_error = "", ""
    record_step(db, SYSTEM, reg, "processing_started", "processing")


def issue_due_certificates(database: Database, settings: Settings) -> int:
    """Issue the certificates whose public notice has ended without an open objection, each in a
    transaction of its own (one that cannot be issued does not hold up the others). Safe to run
    in several processes at once: a registration has at most one certificate (unique), and a
    registration changed by another process meanwhile fails its version check (PostgreSQL)."""
    from qianshu.core.signing import load_signer
    from qianshu.registry import review

    signer = load_signer(settings.key_dir)
    with database.unit_of_work(write=False) as db:
        due = review.due_for_issue(db)
    return each_in_its_own_transaction(
        database, due, lambda db, registration_id: review.issue_certificate(db, SYSTEM, settings, signer,
                                                                            registration_id), "registration")


def sweep_orphan_blobs(database: Database, settings: Settings, *, grace_seconds: float = ORPHAN_GRACE_SECONDS,
                       now: float | None = None) -> int:
    """Remove the blobs no row refers to that were stored more than ``grace_seconds`` ago: what a
    process killed between storing an upload and recording it left behind. Walks the whole
    store, in short read transactions of a few hundred blobs each."""
    store = open_blob_store(settings)
    stored_before = (time.time() if now is None else now) - grace_seconds
    removed = 0
    digests = store.digests()
    while batch := list(islice(digests, SWEEP_BATCH)):
        with database.unit_of_work(write=False) as db:
            removed += service.sweep_orphan_blobs(db, store, batch, stored_before=stored_before)
    if removed:
        log.info("removed %d orphan blobs", removed)
    return removed


# The registry's jobs, for callers that run them directly (the CLI, the demo, tests); the worker
# finds them and the periodic tasks through the manifest.
HANDLERS: dict[str, Handler] = {PIPELINE_JOB: run_registration_pipeline}
SWEEP_BATCH = 500
