"""A contract's life: each party accepts (signs) its text; signed by both it is in force and a leaf
of the public log (the contract's hash and the parties, never the price unless they agreed to
publish it); a party may decline it before; it ends at its term (``expire_due``), by agreement or by
an operator (``changes.py``). ``contract_is_active`` is the one question delivery asks before every
access; ``contract_pdf`` renders the signed text."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput
from qianshu.core.events import publish
from qianshu.core.i18n import N_, Label, translate
from qianshu.core.timeutil import as_utc, utcnow
from qianshu.exchange import documents, transfers
from qianshu.exchange.events import ContractActivated, ContractEnded
from qianshu.exchange.models import Contract, ContractPeriod, Order, Signature
from qianshu.exchange.service import (
    NO_CONTRACT,
    PERIOD_DAYS,
    PREPAID_KINDS,
    flush_or_conflict,
    get_contract,
    is_asset_transfer,
    load_contract,
    notify_party,
    other_org_id,
    party_of,
    record_step,
    require_role,
)
from qianshu.translog.service import append_event, append_events


def log_parties(db: Session, contract: Contract) -> dict[str, str]:
    """What a signature's or amendment's leaf tells the public: the contract's number, hash and
    parties; the price only when the text both signed says the parties agreed to publish it."""
    doc = contract.document
    leaf = {"number": contract.number, "text_sha256": contract.text_sha256, "version": str(contract.text_version),
            "buyer_uscc": doc["buyer"]["uscc"], "seller_uscc": doc["seller"]["uscc"],
            "registration_number": doc["product"]["registration_number"] or ""}
    if doc.get("publish_price") is True:
        leaf["price_fen"] = str(doc["price_fen"])
    return leaf


def sign(db: Session, actor: Actor, contract_id: int, text_sha256: str = "", at: datetime | None = None) -> Contract:
    """One party accepts the contract's current text; when both have, it is in force and logged.

    ``text_sha256`` (optional) is the hash of the text the signer read: if the text changed since,
    the signature is refused, so nobody accepts a text they did not see."""
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.sign", contract, NO_CONTRACT)
    party = party_of(actor, contract)
    if contract.status != "pending":
        raise Conflict("Contract {number} is {status}; it cannot be signed.", number=contract.number,
                       status=Label("contract status", contract.status))
    if text_sha256 and text_sha256 != contract.text_sha256:
        raise Conflict("{field}: {reason}", field="text_sha256",
                       reason="the contract text changed since you read it; read it again")
    if any(s.party == party and s.text_version == contract.text_version for s in contract.signatures):
        raise Conflict("You have already accepted this contract.")
    signature = Signature(contract_id=contract.id, text_version=contract.text_version, party=party or "",
                          org_id=actor.org_id or 0, user_id=actor.user_id, user_label=actor.display_name[:200],
                          via=actor.via, ip=actor.ip, text_sha256=contract.text_sha256, at=at or utcnow())
    contract.signatures.append(signature)
    contract.updated_at = at or utcnow()
    flush_or_conflict(db)
    order = contract.order
    record_step(db, actor, order, "signed", contract, at=at, party=party, text_sha256=contract.text_sha256)
    current = [s for s in contract.signatures if s.text_version == contract.text_version]
    if {s.party for s in current} == {"buyer", "seller"}:
        _activate(db, actor, contract, current, at)
    else:
        notify_party(db, other_org_id(contract, party or "buyer"),
                     N_("The other party accepted contract {number}; your acceptance is awaited."), order, contract)
    return contract


def _activate(db: Session, actor: Actor, contract: Contract, signatures: list[Signature],
              at: datetime | None = None) -> None:
    now = at or utcnow()
    contract.status, contract.starts_at = "active", now
    contract.ends_at = now + timedelta(days=contract.term_days) if contract.term_days else None
    for org_id in (contract.buyer_org_id, contract.seller_org_id):
        notify_party(db, org_id,
                     N_("Contract {number} is signed by both parties and in force."), contract.order, contract)
    flush_or_conflict(db)
    # The log's sequencer is one lock for the whole exchange, held from the append to the commit:
    # the leaf comes last (escrow.settle, docs/exchange.md "Performance").
    index = append_events(db, [("exchange.contract_signed", log_parties(db, contract))])[0].index
    for s in signatures:
        s.log_index = index
    flush_or_conflict(db)
    record_step(db, actor, contract.order, "in_force", contract, at=now, log_index=index)
    publish(db, ContractActivated(contract_id=contract.id))


def decline(db: Session, actor: Actor, contract_id: int, reason: str) -> Contract:
    """A party declines a contract that is not yet signed by both: it never comes into force."""
    contract = load_contract(db, contract_id)
    require_role(actor, "contract.sign", contract, NO_CONTRACT)
    if contract.status != "pending":
        raise Conflict("Contract {number} is {status}; it cannot be signed.", number=contract.number,
                       status=Label("contract status", contract.status))
    if not reason.strip():
        raise InvalidInput("{field} is required.", field="reason")
    end_contract(db, actor, contract, "declined", reason)
    return contract


TERM_ENDED = N_("term ended")
SYSTEM_REASONS = frozenset({TERM_ENDED})  # reasons the exchange gives, translated for each reader


def end_contract(db: Session, actor: Actor, contract: Contract, status: str, reason: str, log: bool = False) -> None:
    contract.status, contract.ended_at, contract.end_reason = status, utcnow(), reason
    contract.updated_at = utcnow()
    flush_or_conflict(db)
    detail: dict[str, Any] = {"reason": reason}
    if log:
        detail["log_index"] = append_event(db, "exchange.contract_terminated", log_parties(db, contract)).index
    record_step(db, actor, contract.order, status, contract, **detail)
    for org_id in (contract.buyer_org_id, contract.seller_org_id):
        notify_party(db, org_id, N_("Contract {number} is {status}: {reason}"), contract.order, contract,
                     status_zh=Label("contract status", status).render("zh"),
                     status_en=Label("contract status", status).render("en"),
                     # the system's own reason in each reader's language; a person's as they wrote it
                     **({"reason_zh": translate(reason, "zh"), "reason_en": translate(reason, "en")}
                        if reason in SYSTEM_REASONS else {"reason": reason}))
    if status in ("ended", "terminated"):
        publish(db, ContractEnded(contract_id=contract.id, status=status, reason=reason))


def contract_is_active(db: Session, contract_id: int, use: str, at: datetime | None = None) -> bool:
    """Whether a contract permits ``use`` at ``at`` (default now): signed by both, not ended,
    expired or terminated, paid (a prepaid price in escrow or settled, not refunded), and ``use`` is
    its delivery mode or its purpose. Delivery asks this before every access, so access ends the
    moment the contract does (not when a task notices)."""
    contract = db.get(Contract, contract_id)
    # An asset transfer (``completed``) grants no delivery: its buyer holds the asset itself.
    if contract is None or contract.status != "active" or contract.starts_at is None:
        return False
    moment = as_utc(at) if at is not None else utcnow()
    # A renewed period of a subscription is paid for by its own escrow (exchange/renewals.py).
    renewed = _renewed_period_paid(db, contract, moment) if contract.plan_kind in PERIOD_DAYS else None
    if renewed is False or (renewed is None and contract.plan_kind in PREPAID_KINDS and contract.price_fen > 0
                            and contract.payment_status in ("unpaid", "refunded")):
        return False
    if moment < as_utc(contract.starts_at):
        return False
    if contract.ends_at is not None and moment >= as_utc(contract.ends_at):
        return False
    return use in (contract.delivery_mode, contract.purpose)


def _renewed_period_paid(db: Session, contract: Contract, moment: datetime) -> bool | None:
    status = db.scalar(select(ContractPeriod.payment_status).where(
        ContractPeriod.contract_id == contract.id, ContractPeriod.starts_at <= moment, ContractPeriod.ends_at > moment))
    return None if status is None else status != "refunded"


def expire_due(db: Session, now: datetime | None = None) -> tuple[int, int]:
    """Expire quotes past their expiry and end contracts past their term; (quotes, contracts)."""
    from qianshu.core.actor import SYSTEM

    moment = now or utcnow()
    quotes = list(db.scalars(select(Order).where(Order.status == "quoted", Order.quote_expires_at <= moment)
                             .limit(500)))
    for order in quotes:
        order.status, order.updated_at = "expired", moment
        record_step(db, SYSTEM, order, "expired")
        notify_party(db, order.buyer_org_id, N_("The quote for your request {order} expired."), order)
    contracts = list(db.scalars(select(Contract).where(Contract.status == "active", Contract.ends_at <= moment)
                                .limit(500)))
    for contract in contracts:
        end_contract(db, SYSTEM, contract, "ended", TERM_ENDED)
    flush_or_conflict(db)
    return len(quotes), len(contracts)


def contract_pdf(db: Session, actor: Actor, contract_id: int, font_path: str = "") -> tuple[str, bytes]:
    contract = get_contract(db, actor, contract_id)
    current = [s for s in contract.signatures if s.text_version == contract.text_version]
    leaf = next(((s.log_index, "") for s in current if s.log_index is not None), None)
    if leaf is None and is_asset_transfer(contract):
        # an asset transfer is signed by no party: its leaf is the one a timeline step keeps
        index = transfers.leaf_index(db, contract.id)
        leaf = (index, "") if index is not None else None
    if leaf is not None:
        from qianshu.translog.service import get_leaf

        entry = get_leaf(db, leaf[0])
        leaf = (entry.index, entry.leaf_hash)
    return contract.number, documents.pdf_bytes(contract.document, current, leaf, font_path)
