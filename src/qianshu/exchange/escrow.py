"""The escrow state machine, once for every period of a contract: the first period (the contract's
own price, ``payments``) and each renewed period of a subscription (``ContractPeriod``,
``renewals``) go the same way::

    escrowed ──deliver──▶ delivered ──accept (or by itself)──▶ settled (escrow → seller and fee)
    escrowed / delivered ──dispute──▶ disputed ──operator──▶ settled / refunded
    escrowed / delivered ──refund (part or all)──▶ (same) / refunded
    settled ──refund (seller's wallet and fee account → buyer)──▶ settled / refunded

A ``Held`` names what is in escrow (the contract, and the renewed period or none); its status moves
by a conditional UPDATE on its own row, so of two steps at once exactly one wins and the other gets
a 409 with nothing moved. What differs between the two is only where the status lives, the escrow
account and ``unique_ref`` (``contract:7`` / ``contract:7:period:2``), the words of the notices and
the ``period`` a timeline entry and a log leaf carry; the first period also counts the product's
transaction and tells subscribers of a refund (vouchers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, inspect, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from qianshu.catalog import service as catalog
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.errors import Conflict, InvalidInput
from qianshu.core.events import publish
from qianshu.core.i18n import N_, Label
from qianshu.core.timeutil import utcnow
from qianshu.exchange.events import ContractRefunded
from qianshu.exchange.models import Contract, ContractPeriod, Dispute
from qianshu.exchange.service import notify_party, record_step
from qianshu.exchange.settings import ExchangeSettings
from qianshu.ledger import service as ledger
from qianshu.translog.service import append_events

CAUSE = "contract"

# The notices of each step: (the first period's, a renewed period's).
DELIVERED = (N_("Contract {number} is delivered: check the data and accept it."),
             N_("Contract {number}: period {period} is delivered: check the data and accept it."))
SETTLED = (N_("Contract {number} is settled: the seller is paid."),
           N_("Contract {number}: period {period} is settled: the seller is paid."))
REFUNDED = (N_("Contract {number}: part or all of the price was refunded to your wallet."),
            N_("Contract {number}: part or all of period {period}'s price was refunded to your wallet."))
REFUNDED_SETTLED = (
    N_("Contract {number}: {amount} of the settled price was refunded to the buyer ({reason})."),
    N_("Contract {number}: {amount} of period {period} was refunded to the buyer ({reason})."))
DISPUTED = (N_("The other party disputes contract {number}: {reason}"),
            N_("The other party disputes period {period} of contract {number}: {reason}"))
DECIDED = (N_("The dispute over contract {number} is decided: {reason}"),
           N_("The dispute over period {period} of contract {number} is decided: {reason}"))


def escrowed_of(contract: Contract) -> int:
    """What the buyer paid into escrow and has not had back: the price less a voucher programme's
    subsidy (paid to the seller by the programme, on its claim) less what was refunded."""
    return contract.price_fen - contract.subsidy_fen - contract.refunded_fen


def fee_of(amount_fen: int, basis_points: int) -> int:
    """The exchange's fee on an amount, rounded half up to the fen (integer arithmetic only)."""
    return (amount_fen * basis_points + 5_000) // 10_000


def fee_rate(db: Session, contract: Contract, settings: ExchangeSettings) -> int:
    """The fee in basis points for the contract's product category."""
    listing = catalog.get_listing(db, SYSTEM, contract.catalogue_listing_id)
    return settings.fee_rate(listing.industry_section)


def fee_share(fee_fen: int, amount_fen: int, held_fen: int) -> int:
    """The part of a settled fee that follows a refund of ``amount_fen`` out of ``held_fen``
    settled: in proportion, rounded half up to the fen (integer arithmetic only)."""
    if held_fen <= 0:
        return 0
    return min(fee_fen, (2 * fee_fen * amount_fen + held_fen) // (2 * held_fen))


def log_contract_event(db: Session, event: str, contract: Contract, **extra: str) -> int:
    """A leaf of the public log about a contract: its number, hash and both USCCs (never an amount)."""
    doc = contract.document
    # append_events: the leaf's index without reading the row back (the sequencer's lock is held).
    return append_events(db, [(event, {"number": contract.number, "text_sha256": contract.text_sha256,
                                       "buyer_uscc": doc["buyer"]["uscc"], "seller_uscc": doc["seller"]["uscc"],
                                       **extra})])[0].index


# Every column attribute of a contract but its document, by attribute name (what ``move_contract``
# reads back). The document is the contract's text, the largest value of the row by far; it
# changes only with a new version of the row, so it is read again only if the row's version shows
# that someone else changed the row since this session read it.
_CONTRACT_COLUMNS = {attr.key: getattr(Contract, attr.key) for attr in inspect(Contract).column_attrs
                     if attr.key != "document"}


def move_contract(db: Session, contract: Contract, allowed: tuple[str, ...], to: str, *, exact: bool = False,
                  at: datetime | None = None, **values: Any) -> None:
    """Move the payment status by a conditional UPDATE: of two at once, one wins, the other gets a 409.
    ``exact``: only if nothing else changed the contract since it was read (refunds add up amounts)."""
    # The row as it is now comes back with the UPDATE itself (RETURNING): no second round trip
    # to read it again.
    moved = db.execute(_move_statement(tuple(allowed), exact, tuple(sorted(values))),
                       {"contract_id": contract.id, "read_version": contract.version, "to": to,
                        "at": at or utcnow(), **{f"new_{key}": value for key, value in values.items()}}).first()
    if moved is None:
        db.refresh(contract)
        raise Conflict("Contract {number} is {status}; this cannot be done now.", number=contract.number,
                       status=Label("payment status", contract.payment_status))
    changed_meanwhile = moved.version != contract.version + 1
    for key, value in zip(_CONTRACT_COLUMNS, moved, strict=True):
        set_committed_value(contract, key, value)
    if changed_meanwhile:
        db.expire(contract, ["document"])


@lru_cache(maxsize=64)
def _move_statement(allowed: tuple[str, ...], exact: bool, keys: tuple[str, ...]) -> Any:
    """``move_contract``'s UPDATE for one kind of move, built once (with its 40-odd returned
    columns, building it and its cache key cost more than running it); the values are parameters."""
    stmt = update(Contract).where(Contract.id == bindparam("contract_id"), Contract.payment_status.in_(allowed))
    if exact:
        stmt = stmt.where(Contract.version == bindparam("read_version"))
    return (stmt.values(payment_status=bindparam("to"), version=Contract.version + 1, updated_at=bindparam("at"),
                        **{key: bindparam(f"new_{key}") for key in keys})
            .returning(*_CONTRACT_COLUMNS.values())
            .execution_options(synchronize_session=False))


def move_period(db: Session, contract: Contract, period: ContractPeriod, allowed: tuple[str, ...], to: str, *,
                exact: bool = False, **values: object) -> None:
    """As ``move_contract``, on a renewed period's row."""
    stmt = update(ContractPeriod).where(ContractPeriod.id == period.id, ContractPeriod.payment_status.in_(allowed))
    if exact:
        stmt = stmt.where(ContractPeriod.version == period.version)
    moved = db.execute(
        stmt.values(payment_status=to, version=ContractPeriod.version + 1, **values).execution_options(
            synchronize_session=False
        )
    )
    db.refresh(period)
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            "Contract {number}, period {period}, is {status}; this cannot be done now.",
            number=contract.number,
            period=period.number,
            status=Label("payment status", period.payment_status),
        )


@dataclass(frozen=True)
class Held:
    """What an escrow of a contract holds: the contract's price (``period`` None: its first period)
    or a renewed period's."""

    contract: Contract
    period: ContractPeriod | None = None

    @property
    def status(self) -> str:
        return self.period.payment_status if self.period is not None else self.contract.payment_status

    @property
    def fee_fen(self) -> int:
        return self.period.fee_fen if self.period is not None else self.contract.fee_fen

    @property
    def refunded_fen(self) -> int:
        return self.period.refunded_fen if self.period is not None else self.contract.refunded_fen

    def held(self) -> int:
        """What is in (or was settled out of) its escrow and was not refunded."""
        if self.period is None:
            return escrowed_of(self.contract)
        return self.period.price_fen - self.period.refunded_fen

    def ref(self) -> str:
        base = f"contract:{self.contract.id}"
        return base if self.period is None else f"{base}:period:{self.period.number}"

    def escrow(self, db: Session, *, opening: bool = False) -> int:
        """Its escrow account's id; ``opening``: for the payment, which opens it (its owner, the
        buyer, exists: inserted at once, without looking first)."""
        reference = f"contract-{self.contract.id}"
        if self.period is not None:
            reference += f"-period-{self.period.number}"
        return ledger.account_id(db, kind="escrow", owner_org_id=self.contract.buyer_org_id, reference=reference,
                                 opening=opening)

    def move(self, db: Session, allowed: tuple[str, ...], to: str, *, exact: bool = False,
             at: datetime | None = None, **values: Any) -> None:
        if self.period is None:
            move_contract(db, self.contract, allowed, to, exact=exact, at=at, **values)
        else:
            move_period(db, self.contract, self.period, allowed, to, exact=exact, **values)

    def detail(self) -> dict[str, Any]:
        """What a timeline entry or a notice adds: the period's number (nothing for the first)."""
        return {} if self.period is None else {"period": self.period.number}

    def leaf(self) -> dict[str, str]:
        """What a log leaf adds (its values are text)."""
        return {} if self.period is None else {"period": str(self.period.number)}

    def words(self, pair: tuple[str, str]) -> str:
        return pair[0] if self.period is None else pair[1]

    def notify(self, db: Session, org_id: int, pair: tuple[str, str], **params: Any) -> None:
        contract = self.contract
        notify_party(db, org_id, self.words(pair), contract.order, contract, **params, **self.detail())


def deliver(db: Session, actor: Actor, item: Held, at: datetime | None = None) -> None:
    """The seller marks it delivered."""
    now = at or utcnow()
    item.move(db, ("escrowed",), "delivered", at=now, delivered_at=now)
    record_step(db, actor, item.contract.order, "delivered", item.contract, at=now, **item.detail())
    item.notify(db, item.contract.buyer_org_id, DELIVERED)


def settle(db: Session, actor: Actor, item: Held, settings: ExchangeSettings, step: str,
           allowed: tuple[str, ...] = ("delivered",), at: datetime | None = None,
           last: list[Callable[[], None]] | None = None) -> None:
    """Pay the seller and the fee out of escrow (``step``: the timeline entry that says why, none
    for a dispute's decision over a renewed period). The order of the writes is chosen for
    concurrency (docs/exchange.md, "Performance"): the fee account and the seller's wallet are rows
    every settlement to them must lock, and the log's sequencer is one lock for the whole exchange;
    each is held until the transaction commits. So everything else (the status, the timeline, the
    notifications) is written first, and the transfers and the log leaf come last, leaving only
    the leaf's timeline row and the commit inside the locks. The product's count of sales is not
    written here: ``trades.recount_sales`` counts settled contracts on a schedule.

    ``last``: a caller that still writes after this in the same transaction (the API: the answer
    stored under its idempotency key) is given the transfers and the leaf to run after its own
    writes, just before it commits, instead of having them run here; it must run them (or roll
    back)."""
    now, contract = at or utcnow(), item.contract
    held = item.held()
    fee = fee_of(held, fee_rate(db, contract, settings))
    item.move(db, allowed, "settled", at=now, settled_at=now, fee_fen=fee)
    escrow, ref = item.escrow(db), item.ref()
    legs = [ledger.Leg(escrow, ledger.wallet_id(db, contract.seller_org_id), held - fee, "settlement",
                       (CAUSE, contract.id), contract.number, f"settle:{ref}"),
            ledger.Leg(escrow, ledger.fee_account_id(db), fee, "fee", (CAUSE, contract.id), contract.number,
                       f"fee:{ref}")]
    if step:
        record_step(db, actor, contract.order, step, contract, at=now, **item.detail())
    for org_id in (contract.buyer_org_id, contract.seller_org_id):
        item.notify(db, org_id, SETTLED)
    if item.period is None:
        _ = contract.signatures  # loaded now (the answer shows them), not while the locks below are held
        db.flush()

    def post() -> None:
        if held:
            ledger.transfers(db, actor, [leg for leg in legs if leg.amount_fen > 0], at=now)
        index = log_contract_event(db, "exchange.contract_settled", contract, **item.leaf())
        record_step(db, actor, contract.order, "settled", contract, at=now, seller_fen=held - fee, fee_fen=fee,
                    log_index=index, **item.detail())

    if last is None:
        post()
    else:
        last.append(post)


def published_refund(db: Session, contract: Contract, amount: int, *, after_settlement: bool) -> None:
    """Tell subscribers (vouchers: a subsidised contract's subsidy goes back to its programme), in
    this transaction: a subscriber's refusal undoes the refund."""
    publish(db, ContractRefunded(contract_id=contract.id, amount_fen=amount,
                                 escrowed_fen=contract.price_fen - contract.subsidy_fen,
                                 refunded_fen=contract.refunded_fen, after_settlement=after_settlement))


def refund_escrowed(db: Session, actor: Actor, item: Held, amount: int, reason: str, allowed: tuple[str, ...],
                    at: datetime | None = None) -> None:
    """Part or all of the escrow back to the buyer's wallet (before it settles)."""
    now, contract = at or utcnow(), item.contract
    remaining = item.held() - amount
    item.move(db, allowed, "refunded" if remaining == 0 else item.status, exact=True, at=now,
              refunded_fen=item.refunded_fen + amount)
    ledger.transfer(db, actor, debit=item.escrow(db), credit=ledger.wallet_of(db, contract.buyer_org_id),
                    amount_fen=amount, kind="refund", cause=(CAUSE, contract.id), memo=reason[:200], at=now)
    index = log_contract_event(db, "exchange.refund", contract, full="yes" if remaining == 0 else "no", **item.leaf())
    if item.period is None:
        published_refund(db, contract, amount, after_settlement=False)
    record_step(db, actor, contract.order, "refunded", contract, at=now, amount_fen=amount, reason=reason,
                log_index=index, **item.detail())
    item.notify(db, contract.buyer_org_id, REFUNDED)


def settled_refund_legs(db: Session, contract: Contract, amount: int, fee_back: int,
                        reason: str) -> list[ledger.Leg]:
    """The transfers of a refund of something settled (a price, a renewed period, a usage bill):
    the seller's part from its wallet, the fee's share from the fee account, both to the buyer."""
    buyer = ledger.wallet_of(db, contract.buyer_org_id)
    legs = [ledger.Leg(ledger.wallet_of(db, contract.seller_org_id), buyer, amount - fee_back, "refund",
                       (CAUSE, contract.id), reason[:200]),
            ledger.Leg(ledger.fee_account(db), buyer, fee_back, "fee_refund", (CAUSE, contract.id), reason[:200])]
    return [leg for leg in legs if leg.amount_fen > 0]


def announce_settled_refund(db: Session, actor: Actor, contract: Contract, amount: int, fee_back: int, reason: str,
                            full: bool, at: datetime, message: str, **item: str) -> None:
    """The leaf ``exchange.refund`` (``after_settlement: yes``; ``item`` names a renewed period or a
    usage bill, never an amount), the timeline step and both parties' notice."""
    index = log_contract_event(db, "exchange.refund", contract, full="yes" if full else "no",
                               after_settlement="yes", **item)
    record_step(db, actor, contract.order, "refunded", contract, at=at, amount_fen=amount, fee_fen=fee_back,
                reason=reason, log_index=index, **item)
    for org_id in (contract.buyer_org_id, contract.seller_org_id):
        notify_party(db, org_id, message, contract.order, contract, amount=ledger.yuan_text(amount), reason=reason,
                     **item)


def refund_settled(db: Session, actor: Actor, item: Held, amount: int, reason: str,
                   at: datetime | None = None) -> None:
    """A refund after settlement (the seller agreeing, or an operator deciding): new transfers
    back to the buyer's wallet, from the seller's wallet for the seller's part and from the fee
    account for the fee's share (``fee_share``); nothing booked before is changed. A seller's
    wallet short of its part refuses it (422 ``insufficient_funds`` naming ``amount_fen``) with
    nothing moved, not even the status."""
    now, contract = at or utcnow(), item.contract
    held = item.held()
    fee_back = fee_share(item.fee_fen, amount, held)
    remaining = held - amount
    legs = settled_refund_legs(db, contract, amount, fee_back, reason)
    try:
        with db.begin_nested():
            item.move(db, ("settled",), "refunded" if remaining == 0 else "settled", exact=True, at=now,
                      refunded_fen=item.refunded_fen + amount, fee_fen=item.fee_fen - fee_back)
            ledger.transfers(db, actor, legs, at=now)
    except InvalidInput:
        db.refresh(contract)
        raise
    if item.period is None:
        published_refund(db, contract, amount, after_settlement=True)
    announce_settled_refund(db, actor, contract, amount, fee_back, reason, remaining == 0, now,
                            item.words(REFUNDED_SETTLED), **item.leaf())


def dispute(db: Session, actor: Actor, item: Held, reason: str, at: datetime | None = None) -> Dispute:
    """Either party disputes it while in escrow or delivered: its settlement waits for an operator."""
    contract = item.contract
    if not reason.strip():
        raise InvalidInput("{field} is required.", field="reason")
    now = at or utcnow()
    item.move(db, ("escrowed", "delivered"), "disputed", at=now)
    made = Dispute(contract_id=contract.id, raised_by_org_id=actor.org_id or 0, raised_by=actor.user_id,
                   reason=reason, created_at=now,
                   period_number=item.period.number if item.period is not None else None)
    db.add(made)
    db.flush()
    record_step(db, actor, contract.order, "disputed", contract, at=now, reason=reason, **item.detail())
    other = contract.seller_org_id if actor.org_id == contract.buyer_org_id else contract.buyer_org_id
    item.notify(db, other, DISPUTED, reason=reason)
    return made


def decide(db: Session, actor: Actor, item: Held, found: Dispute, amount: int, decision: str, reason: str,
           settings: ExchangeSettings, at: datetime | None = None) -> None:
    """An operator's decision of ``found`` (over ``item``): ``amount`` back to the buyer out of the
    escrow, the rest settles; a leaf, a timeline entry and both parties' notice."""
    now, contract = at or utcnow(), item.contract
    held = item.held()
    found.status, found.decision, found.refund_fen = "decided", decision, amount
    found.decision_reason, found.decided_by, found.decided_at = reason, actor.user_id, now
    if amount:
        refund_escrowed(db, actor, item, amount, reason, ("disputed",), now)
    if amount < held:
        # The first period's settlement has its own "dispute_decided" entry (as it always had).
        settle(db, actor, item, settings, "dispute_decided" if item.period is None else "", ("disputed",), now)
    index = log_contract_event(db, "exchange.dispute_decided", contract, decision=decision, **item.leaf())
    record_step(db, actor, contract.order, "dispute_decided", contract, at=now, decision=decision, reason=reason,
                log_index=index, **item.detail())
    for org_id in (contract.buyer_org_id, contract.seller_org_id):
        item.notify(db, org_id, DECIDED, reason=reason)
