"""What the registry does when the base announces something (its manifest subscribes)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from qianshu.core.jobs import JobCrashed, JobRetried
from qianshu.registry.jobs import fail_registration, reopen_registration
from qianshu.registry.service import PIPELINE_JOB

CRASHED = ("Processing stopped unexpectedly several times (the server may have run out of memory or been "
           "restarted); the data is kept. Try again, or split the file.")


def on_job_crashed(db: Session, event: JobCrashed) -> None:
    """A pipeline whose worker kept dying: the registration fails cleanly (in the transaction that
    fails the job) and can be re-run."""
    if event.kind == PIPELINE_JOB and "registration_id" in event.payload:
        fail_registration(db, int(event.payload["registration_id"]), event.job_id, "job_crashed", CRASHED, {})



def on_job_retried(db: Session, event: JobRetried) -> None:
    """An operator retried a failed pipeline: the registration it failed waits on it again (in the
    retry's transaction)."""
    if event.kind == PIPELINE_JOB and "registration_id" in event.payload:
        reopen_registration(db, int(event.payload["registration_id"]), event.job_id)
