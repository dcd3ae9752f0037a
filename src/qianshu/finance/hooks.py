"""What finance does when the registry announces something (its manifest subscribes)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from qianshu.finance.service import block_revocation
from qianshu.registry.events import RegistrationRevoked


def on_registration_revoked(db: Session, event: RegistrationRevoked) -> None:
    """In the revocation's transaction: a pledged asset's registration does not go (a veto)."""
    block_revocation(db, event.registration_id, event.reason)
