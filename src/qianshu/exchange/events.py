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


@dataclass(frozen=True)
class ContractRefunded(Event):
    """All or part of what the buyer escrowed went back to it (before or after settlement, or by a
    dispute's decision). ``refunded_fen`` is the contract's total refunded so far, this refund
    included; ``escrowed_fen`` what the buyer paid (the price less a voucher subsidy)."""

    name: ClassVar[str] = "exchange.contract_refunded"
    contract_id: int
    amount_fen: int
    escrowed_fen: int
    refunded_fen: int
    after_settlement: bool
