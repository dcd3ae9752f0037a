"""The events the registry publishes (declared in its manifest; see core/events.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from qianshu.core.events import Event


@dataclass(frozen=True)
class RegistrationRevoked(Event):
    """A registration no longer stands (revoked, cancelled, or transferred to a new holder)."""

    name: ClassVar[str] = "registration.revoked"
    registration_id: int
    reason: str = ""


@dataclass(frozen=True)
class RegistrationSuperseded(Event):
    """An issued registration was replaced by a change or a renewal of the same asset (its
    certificate stays valid as a record; the new one is current)."""

    name: ClassVar[str] = "registration.superseded"
    registration_id: int
    successor_id: int
    kind: str = ""  # change | renewal


@dataclass(frozen=True)
class RegistrationChallenged(Event):
    """Someone filed an objection against a registration in public notice, or the exchange decided
    one (``outcome``: ``filed``, ``upheld`` or ``dismissed``). ``previous_id`` is the issued
    registration a change, renewal or transfer would replace: the certificate whose holder's
    rights the objection puts in doubt."""

    name: ClassVar[str] = "registration.challenged"
    registration_id: int
    objection_id: int
    outcome: str = "filed"
    previous_id: int | None = None
