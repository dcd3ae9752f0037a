"""Contracts that record an asset transfer by forced sale (finance's enforcement of a pledge).

A forced sale is settled by finance: the buyer's money goes through escrow to the fee, the bank up
to the debt and the holder, and the rights pass by the registry's transfer. So that the sale is a
trade of the exchange like any other (both parties' "my trades", the contract page and PDF, the
public statistics), finance records it here in the same transaction, as an order ``accepted`` and a
contract ``completed`` and ``settled`` at once, with the plan kind ``forced_sale`` (labelled "asset
transfer by forced sale") and no catalogue plan. The contract is a leaf of the public log of its
own, ``exchange.asset_transferred`` (its number, text hash, the parties' and the bank's USCCs, the
registration and the sale; never the price, as no contract leaf carries one unless the parties
agreed), whose index its timeline step keeps. The bank that enforced its pledge by the sale is the
trade's ``pledgee`` (``pledgee_org_id``): the policy lets it read the contract, nothing more.

Transfers recorded before migration 0039 were written without that leaf, and a migration appends
nothing to the log: ``qianshu exchange backfill-transfer-leaves`` gives each its leaf later
(``log_missing_leaf``, the same leaf closing writes, and a step ``asset_transfer_logged`` that keeps
its index), once however often and however many times at once it runs.

Such a contract moves no money and opens no machinery: nobody signs it (the winning purchase binds
both parties), it has nothing in escrow to deliver, accept, dispute or refund, it never renews, and
every action on it but reading is refused (``service.require_role``). It grants no delivery either
(``service.contract_is_active`` is false): the buyer's use of the data comes from holding the asset
(the registry's transfer), not from a licence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.catalog import product as catalog_product
from qianshu.core.actor import Actor
from qianshu.core.policy import allows
from qianshu.core.signing import Signer
from qianshu.core.timeutil import utcnow
from qianshu.exchange import documents
from qianshu.exchange.models import ASSET_TRANSFER, TRANSFER_MODE, TRANSFER_PURPOSE, Contract, Order, TimelineEntry
from qianshu.exchange.permissions import trade
from qianshu.exchange.service import is_asset_transfer, record_step
from qianshu.translog.service import append_events, sign_tree_head

LEAF = "exchange.asset_transferred"
LOGGED_STEP = "asset_transfer_logged"  # the leaf of a transfer recorded before migration 0039, appended later
LEAF_STEPS = ("asset_transferred", LOGGED_STEP)  # the timeline steps that keep a transfer's leaf index


def record_asset_transfer(db: Session, actor: Actor, *, registration_id: int, seller_org_id: int,
                          buyer_org_id: int, pledgee_org_id: int, price_fen: int, fee_fen: int, reason: str,
                          reference: dict[str, Any], at: datetime | None = None) -> Contract:
    """The contract of a settled forced sale: seller the holder, buyer the winner, ``pledgee_org_id``
    the bank that sold, price the winning price (``fee_fen`` the exchange's fee the sale already
    booked), ``reference`` the sale (``{"kind": "forced_sale", "id": 7}``). Books nothing on the
    ledger; appends the contract's leaf. The caller makes sure a sale is recorded once (it holds
    the asset's lock and closes the sale in the same transaction)."""
    now = at or utcnow()
    registration = catalog_product.registration_by_id(db, registration_id)
    listing = catalog_product.holders_listing(db, registration_id, seller_org_id)
    order = Order(listing_id=None if listing is None else listing.id, plan_id=None, buyer_org_id=buyer_org_id,
                  seller_org_id=seller_org_id, pledgee_org_id=pledgee_org_id, created_by=actor.user_id,
                  kind="transfer", status="accepted", plan_kind=ASSET_TRANSFER, purpose=TRANSFER_PURPOSE,
                  scenario=reason, delivery_mode=TRANSFER_MODE, price_fen=price_fen, term_days=None,
                  answered_at=now, created_at=now, updated_at=now)
    db.add(order)
    db.flush()
    parties = accounts.organisations_by_id(db, [buyer_org_id, seller_org_id, pledgee_org_id])
    number = f"QS-TC-{now.year}-{order.id:06d}"
    document = documents.transfer_document(
        number=number, buyer=parties[buyer_org_id], seller=parties[seller_org_id], listing=listing,
        registration=registration, certificate=catalog_product.certificate(db, registration_id),
        price_fen=price_fen, reason=reason, reference=reference, created_at=now)
    contract = Contract(number=number, order_id=order.id, listing_id=order.listing_id, plan_id=None,
                        buyer_org_id=buyer_org_id, seller_org_id=seller_org_id, pledgee_org_id=pledgee_org_id,
                        status="completed", plan_kind=ASSET_TRANSFER, price_fen=price_fen, purpose=TRANSFER_PURPOSE,
                        delivery_mode=TRANSFER_MODE, term_days=None, document=document,
                        text_sha256=documents.text_sha256(document), text_version=1, starts_at=now, ended_at=now,
                        end_reason="", payment_status="settled", fee_fen=fee_fen, paid_at=now, settled_at=now,
                        renews=False, created_at=now, updated_at=now)
    db.add(contract)
    db.flush()
    index = append_transfer_leaf(db, contract, parties[pledgee_org_id].uscc)
    record_step(db, actor, order, "asset_transferred", contract, at=now, price_fen=price_fen, source=reference,
                log_index=index)
    return contract


def append_transfer_leaf(db: Session, contract: Contract, pledgee_uscc: str) -> int:
    """Append the contract's leaf, read from its text (number, hash, the parties' and the bank's
    USCCs, the registration and the sale; never the price); its index. At the sale's closing, and
    for a transfer recorded before migration 0039 by ``log_missing_leaf``."""
    document = contract.document
    return append_events(db, [(LEAF, {
        "number": contract.number, "text_sha256": contract.text_sha256, "version": str(contract.text_version),
        "buyer_uscc": document["buyer"]["uscc"], "seller_uscc": document["seller"]["uscc"],
        "pledgee_uscc": pledgee_uscc, "registration_number": document["product"]["registration_number"] or "",
        "cause": str(document["cause"]["kind"]), "cause_id": str(document["cause"]["id"])})])[0].index


def leaf_index(db: Session, contract_id: int) -> int | None:
    """The index of an asset transfer's own leaf, which a timeline step keeps: its
    ``asset_transferred`` (closed after migration 0039) or the ``asset_transfer_logged`` of a leaf
    appended later. None: it has none."""
    return _indexes(db, [contract_id]).get(contract_id)


def _indexes(db: Session, contract_ids: list[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for contract_id, detail in db.execute(
            select(TimelineEntry.contract_id, TimelineEntry.detail)
            .where(TimelineEntry.contract_id.in_(contract_ids), TimelineEntry.step.in_(LEAF_STEPS))
            .order_by(TimelineEntry.id)):
        if contract_id is not None and (detail or {}).get("log_index") is not None:
            found.setdefault(contract_id, int(detail["log_index"]))
    return found


def transfers_without_leaf(db: Session) -> list[int]:
    """The asset transfers whose contract has no leaf of its own (recorded before migration
    0039), oldest first."""
    ids = list(db.scalars(select(Contract.id).where(Contract.plan_kind == ASSET_TRANSFER).order_by(Contract.id)))
    logged = _indexes(db, ids)
    return [contract_id for contract_id in ids if contract_id not in logged]


@dataclass(frozen=True)
class LoggedTransfer:
    contract_id: int
    number: str
    log_index: int


def log_missing_leaf(db: Session, actor: Actor, signer: Signer, contract_id: int,
                     at: datetime | None = None) -> LoggedTransfer | None:
    """Give an asset transfer that has no leaf of its own (recorded before migration 0039) the leaf
    its closing writes now, a timeline step ``asset_transfer_logged`` (and its audit entry) keeping
    the index, and a signed tree head that covers it, so its inclusion proof exists at once. None:
    nothing to do (it has its leaf, or it is not an asset transfer). The contract's row is locked
    first (PostgreSQL; on SQLite a write transaction is the only writer), so of two runs at once the
    second reads the first one's step and appends nothing."""
    contract = db.get(Contract, contract_id, with_for_update=True, populate_existing=True)
    if contract is None or not is_asset_transfer(contract) or leaf_index(db, contract.id) is not None:
        return None
    pledgee = contract.pledgee_org_id
    uscc = accounts.organisations_by_id(db, [pledgee])[pledgee].uscc if pledgee is not None else ""
    index = append_transfer_leaf(db, contract, uscc)
    record_step(db, actor, contract.order, LOGGED_STEP, contract, at=at or utcnow(), log_index=index)
    sign_tree_head(db, signer)
    return LoggedTransfer(contract.id, contract.number, index)


def contract_readable(db: Session, actor: Actor, contract_id: int) -> bool:
    """Whether the policy lets ``actor`` read the contract (its parties, exchange staff, and for an
    asset transfer the bank that sold): what a page asks before linking to it."""
    contract = db.get(Contract, contract_id)
    return contract is not None and allows(actor, "trade.read", trade(contract))
