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
