"""Events the exchange publishes (declared in its manifest): delivery will act on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from qianshu.core.events import Event


@dataclass(frozen=True)
class ContractActivated(Event):
    """Both parties signed: the contract is in force from now."""

    name: ClassVar[str] = "exchange.contract_activated"
    contract_id: int


@dataclass(frozen=True)
class ContractEnded(Event):
    """A contract stopped being in force: its term ended, or it was terminated."""

    name: ClassVar[str] = "exchange.contract_ended"
    contract_id: int
    status: str  # ended | terminated
    reason: str
