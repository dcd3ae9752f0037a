"""What the registry does when the base announces something (its manifest subscribes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from qianshu.registry.jobs import fail_registration, reopen_registration
from qianshu.registry.service import PIPELINE_JOB

CRASHED = ("Processing stopped unexpectedly several times (the server may have run out of memory or been "
           "restarted); the data is kept. Try again, or split the file.")


def on_job_crashed(db: Session, job_id: int, kind: str, payload: dict[str, Any], **_: object) -> None:
    """A pipeline whose worker kept dying: the registration fails cleanly and can be re-run."""
    if kind == PIPELINE_JOB and "registration_id" in payload:
        fail_registration(db, int(payload["registration_id"]), job_id, "job_crashed", CRASHED, {})



def on_job_retried(db: Session, job_id: int, kind: str, payload: dict[str, Any], **_: object) -> None:
    """An operator retried a failed pipeline: the registration it failed waits on it again."""
    if kind == PIPELINE_JOB and "registration_id" in payload:
        reopen_registration(db, int(payload["registration_id"]), job_id)
