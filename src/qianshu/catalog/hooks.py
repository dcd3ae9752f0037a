"""What the catalogue does when other capabilities announce something (its manifest subscribes)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from qianshu.catalog import service
from qianshu.core.actor import SYSTEM
from qianshu.registry.events import RegistrationRevoked


def on_registration_revoked(db: Session, event: RegistrationRevoked) -> None:
    """In the revocation's transaction: a product whose registration no longer stands is delisted."""
    service.delist_for_registration(db, SYSTEM, event.registration_id, event.reason)
