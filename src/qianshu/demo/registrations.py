"""The demo's registrations, made the way a holder, a reviewer and an operator make them.

Every step is the registry's own service function (the ones the portal and the API call):
create, upload, process (the pipeline job, run in this process at once instead of waiting for
the worker), declare, submit, take, approve, issue the certificate (a signed document and a
leaf of the public log). Nothing is written to the registry's tables directly, so whatever the
demo shows as issued has what a real issue has.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.accounts.models import User
from qianshu.accounts.service import actor_for
from qianshu.core import jobs
from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.capability import job_kind
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.core.signing import Signer
from qianshu.core.timeutil import utcnow
from qianshu.registry import documents, review, schemas, service
from qianshu.registry.jobs import HANDLERS
from qianshu.registry.manifest import MANIFEST
from qianshu.registry.models import Certificate
from qianshu.registry.settings import RegistrySettings

# As many pipelines at a time as a worker runs (the registry manifest's job concurrency).
PIPELINES_AT_ONCE = job_kind(MANIFEST.jobs[service.PIPELINE_JOB]).concurrency or 2


def actor_of(db: Session, email: str) -> Actor:
    """A demo user acting as they would in the portal."""
    user = db.scalar(select(User).where(User.email == email))
    if user is None:
        raise RuntimeError(f"demo user {email} is missing")
    return actor_for(user, via="system", ip=None)


@dataclass(frozen=True)
class Upload:
    """One registration to make: who registers which file with which declaration."""

    holder: Actor
    path: Path
    declaration: schemas.Declaration
    contract: tuple[str, bytes] | None = None  # (file name, bytes) of a purchase contract


def register(database: Database, settings: Settings, uploads: list[Upload]) -> list[int]:
    """Create, upload and process each file, then declare it: registrations ready to submit.

    All pipelines are queued first, then run in this process by ``PIPELINES_AT_ONCE`` threads
    claiming jobs from the queue, as the worker's threads would (without its polling delay)."""
    store = open_blob_store(settings)
    limits = settings.section(RegistrySettings)
    ids = []
    with database.unit_of_work() as db:
        for item in uploads:
            decl = item.declaration
            reg = service.create_registration(db, item.holder, schemas.RegistrationCreate(
                title_zh=decl.title_zh, title_en=decl.title_en))
            digest, size = service.store_upload(store, [item.path.read_bytes()], limits.upload_max_bytes)
            service.add_file(db, item.holder, reg.id, item.path.name, digest, size)
            service.start_processing(db, item.holder, settings, reg.id)
            ids.append(reg.id)
    context = jobs.JobContext(database, settings, store)
    with ThreadPoolExecutor(PIPELINES_AT_ONCE, thread_name_prefix="demo-pipeline") as pool:
        for ran in [pool.submit(jobs.run_pending, context, HANDLERS) for _ in range(PIPELINES_AT_ONCE)]:
            ran.result()
    with database.unit_of_work() as db:
        for item, reg_id in zip(uploads, ids, strict=True):
            service.update_declaration(db, item.holder, reg_id, item.declaration)
            if item.contract is not None:
                name, body = item.contract
                digest, size = service.store_upload(store, [body], limits.document_max_bytes)
                documents.attach_contract(db, item.holder, reg_id, documents.Received(name, digest, size))
    return ids


def notice_started_for_issue_now(settings: Settings) -> datetime:
    """When a notice must have started to have ended now (approving "in the past")."""
    return utcnow() - settings.section(RegistrySettings).public_notice_duration


def issue(db: Session, settings: Settings, signer: Signer, holder: Actor, reviewer: Actor, operator: Actor,
          registration_id: int, approval: schemas.Approval) -> Certificate:
    """Submit, review, approve and, the public notice having run its course, issue."""
    review.submit(db, holder, registration_id)
    review.take(db, reviewer, registration_id)
    review.approve(db, reviewer, settings, registration_id, approval, now=notice_started_for_issue_now(settings))
    return review.issue_certificate(db, operator, settings, signer, registration_id)
