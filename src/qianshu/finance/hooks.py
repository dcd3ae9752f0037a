"""What finance does when the registry announces something (its manifest subscribes)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from qianshu.core.db import Database
from qianshu.finance.alerts import tell_pledgees_of_challenge
from qianshu.finance.service import block_revocation, tell_pledgees_of_successor
from qianshu.registry import review
from qianshu.registry.events import RegistrationChallenged, RegistrationRevoked, RegistrationSuperseded


def on_registration_revoked(db: Session, event: RegistrationRevoked) -> None:
    """In the revocation's transaction: a pledged asset's registration does not go (a veto)."""
    block_revocation(db, event.registration_id, event.reason)


def on_registration_superseded(database: Database, event: RegistrationSuperseded) -> None:
    """After the change or renewal committed: each bank holding an open pledge over the asset is told."""
    with database.unit_of_work() as db:
        tell_pledgees_of_successor(db, event.registration_id, event.successor_id, event.kind)


def on_registration_challenged(database: Database, event: RegistrationChallenged) -> None:
    """After an objection was filed or decided: the banks lending against the asset are told."""
    with database.unit_of_work() as db:
        grounds = next((o.grounds for o in review.objections(db, event.registration_id)
                        if o.id == event.objection_id), "")
        tell_pledgees_of_challenge(db, event.registration_id, event.previous_id, event.outcome, grounds)
