"""What the catalogue does when other capabilities announce something (its manifest subscribes)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from qianshu.catalog import service
from qianshu.core.actor import SYSTEM


def on_registration_revoked(db: Session, registration_id: int, reason: str = "", **_: object) -> None:
    service.delist_for_registration(db, SYSTEM, registration_id, reason)

