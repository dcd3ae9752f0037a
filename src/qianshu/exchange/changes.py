"""Amendments and early termination: a party proposes to amend the contract (price, term,
terms) or to end it early and the other party agrees or rejects (one proposal at a time); an
operator may do either alone, with a written reason. An agreed amendment is a new text version with
a new hash (leaf ``exchange.contract_amended``); a termination ends the contract at once
(``contracts.end_contract``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import N_, Label
from qianshu.core.money import Money
from qianshu.core.timeutil import as_utc, utcnow
from qianshu.exchange import documents
from qianshu.exchange.contracts import end_contract, log_parties
from qianshu.exchange.models import Contract, ContractChange
from qianshu.exchange.schemas import ChangeIn
from qianshu.exchange.service import (
    NO_CONTRACT,
    flush_or_conflict,
    load_contract,
    notify_party,
    other_org_id,
    party_of,
    record_step,
    require_role,
)
from qianshu.translog.service import append_event


def _changes(contract: Contract, data: ChangeIn) -> dict[str, Any]:
    if data.kind == "terminate":
        return {}
    changes: dict[str, Any] = {}
    if data.price:
        price = Money.from_yuan(data.price, "price").fen
        if price < 0:
            raise InvalidInput("{field}: {reason}", field="price", reason="must not be negative")
        changes["price_fen"] = price
    if data.term_days is not None:
        changes["term_days"] = data.term_days
    if data.terms is not None:
        changes["terms"] = data.terms
    if not changes:
        raise InvalidInput("{field}: {reason}", field="price",
                           reason="an amendment must change the price, the term or the terms")
    return changes


def _changeable(contract: Contract) -> None:
    if contract.status != "active":
        raise Conflict("Contract {number} is {status}; it cannot be changed.", number=contract.number,
                       status=Label("contract status", contract.status))


def pending_change(db: Session, contract: Contract) -> ContractChange | None:
    return db.scalar(select(ContractChange).where(ContractChange.contract_id == contract.id,
                                                  ContractChange.status == "proposed"))


def propose_change(db: Session, actor: Actor, contract_id: int, data: ChangeIn) -> ContractChange:
    """A party proposes to amend the contract or to end it early; the other party decides."""
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.change", contract, NO_CONTRACT)
    _changeable(contract)
    pending = db.scalar(select(ContractChange.id).where(ContractChange.contract_id == contract.id,
                                                        ContractChange.status == "proposed"))
    if pending is not None:
        raise Conflict("A proposed change of this contract awaits a decision already.")
    change = ContractChange(contract_id=contract.id, kind=data.kind, proposed_by_org_id=actor.org_id or 0,
                            proposed_by=actor.user_id, changes=_changes(contract, data), reason=data.reason)
    db.add(change)
    db.flush()
    record_step(db, actor, contract.order, f"{data.kind}_proposed", contract, change=change.id, reason=data.reason)
    notify_party(db, other_org_id(contract, party_of(actor, contract) or "buyer"),
                 N_("The other party proposes to amend contract {number}: {reason}") if data.kind == "amend"
                 else N_("The other party proposes to end contract {number} early: {reason}"),
                 contract.order, contract, reason=data.reason)
    return change


def decide_change(db: Session, actor: Actor, contract_id: int, change_id: int, agree: bool) -> ContractChange:
    """The other party agrees to (or rejects) a proposed amendment or early termination."""
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.change", contract, NO_CONTRACT)
    change = db.get(ContractChange, change_id)
    if change is None or change.contract_id != contract.id:
        raise NotFound("Not found.")
    if change.status != "proposed":
        raise Conflict("This proposal was decided already.")
    if change.proposed_by_org_id == actor.org_id:
        raise Conflict("The other party must decide on your proposal.")
    _changeable(contract)
    change.status, change.decided_by, change.decided_at = ("agreed" if agree else "rejected"), actor.user_id, utcnow()
    if not agree:
        db.flush()
        record_step(db, actor, contract.order, f"{change.kind}_rejected", contract, change=change.id)
        notify_party(db, change.proposed_by_org_id, N_("Your proposal on contract {number} was rejected."),
                     contract.order, contract)
        return change
    _apply(db, actor, contract, change.kind, change.changes, change.reason)
    return change


def operate(db: Session, actor: Actor, contract_id: int, data: ChangeIn) -> Contract:
    """The exchange operator amends or terminates a contract, with a written reason."""
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.operate", contract, NO_CONTRACT)
    _changeable(contract)
    _apply(db, actor, contract, data.kind, _changes(contract, data), data.reason, by_operator=True)
    return contract


def _apply(db: Session, actor: Actor, contract: Contract, kind: str, changes: dict[str, Any], reason: str,
           by_operator: bool = False) -> None:
    if kind == "terminate":
        end_contract(db, actor, contract, "terminated", reason, log=True)
        return
    version = contract.text_version + 1
    document = documents.amended(contract.document, changes, version)
    contract.document, contract.text_version = document, version
    contract.text_sha256 = documents.text_sha256(document)
    if "price_fen" in changes:
        contract.price_fen = changes["price_fen"]
    if "term_days" in changes:
        contract.term_days = changes["term_days"]
        start = contract.starts_at
        contract.ends_at = as_utc(start) + timedelta(days=changes["term_days"]) if start else None
    contract.updated_at = utcnow()
    flush_or_conflict(db)
    entry = append_event(db, "exchange.contract_amended", {**log_parties(db, contract),
                                                           "by_operator": "yes" if by_operator else "no"})
    record_step(db, actor, contract.order, "amended", contract, version=version, text_sha256=contract.text_sha256,
                reason=reason, log_index=entry.index, fields=sorted(changes))
    for org_id in (contract.buyer_org_id, contract.seller_org_id):
        notify_party(db, org_id,
                     N_("Contract {number} was amended (version {version}): {reason}"), contract.order, contract,
                     version=version, reason=reason)
