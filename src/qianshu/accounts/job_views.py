"""The background jobs as operators see them: queued, running and failed jobs, and retrying one.

The jobs themselves are core's (``core/jobs.py``); this is the operators' view of them, kept in
accounts beside the audit trail because it is exchange staff's business and core may not decide
who may do what.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core import audit, jobs, policy
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, NotFound
from qianshu.core.i18n import translate

LISTED_STATUSES = ("queued", "running", "failed")
LIMIT = 200


@dataclass(frozen=True)
class JobView:
    id: int
    kind: str
    status: str
    progress: float
    stage: str
    attempts: int
    error_code: str
    error: str  # in the reader's language where the error is a message id
    org_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def job_error(job: jobs.Job, lang: str) -> str:
    detail = job.error_detail
    if isinstance(detail, dict) and isinstance(detail.get("message"), str):
        params = detail.get("params")
        return translate(detail["message"], lang, **(params if isinstance(params, dict) else {}))
    return job.error_message  # an internal error's text, for the operators


def _view(job: jobs.Job, lang: str) -> JobView:
    return JobView(job.id, job.kind, job.status, job.progress, job.stage, job.attempts, job.error_code,
                   job_error(job, lang), job.org_id, job.created_at, job.started_at, job.finished_at)


def list_jobs(db: Session, actor: Actor, lang: str, status: str = "") -> list[JobView]:
    """Queued, running and failed jobs (or those of one ``status``), newest first."""
    policy.require(actor, "job.manage")
    statuses = (status,) if status in LISTED_STATUSES else LISTED_STATUSES
    query = select(jobs.Job).where(jobs.Job.status.in_(statuses)).order_by(jobs.Job.id.desc()).limit(LIMIT)
    return [_view(job, lang) for job in db.scalars(query)]


def retry_job(db: Session, actor: Actor, job_id: int, lang: str) -> JobView:
    """Put a failed job back in the queue (audited)."""
    policy.require(actor, "job.manage")
    job = db.get(jobs.Job, job_id)
    if job is None:
        raise NotFound("Job {id} does not exist.", id=job_id)
    previous_error = job.error_code
    retried = jobs.retry(db, job_id)
    if retried is None:
        raise Conflict("Only a failed job can be retried.", code="job_not_failed")
    audit.record(db, actor, "job.retried", target_type="job", target_id=job_id, target_org_id=retried.org_id,
                 kind=retried.kind, error_code=previous_error)
    return _view(retried, lang)
