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

Such a contract moves no money and opens no machinery: nobody signs it (the winning purchase binds
both parties), it has nothing in escrow to deliver, accept, dispute or refund, it never renews, and
every action on it but reading is refused (``service.require_role``). It grants no delivery either
(``service.contract_is_active`` is false): the buyer's use of the data comes from holding the asset
(the registry's transfer), not from a licence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.catalog import product as catalog_product
from qianshu.core.actor import Actor
from qianshu.core.policy import allows
from qianshu.core.timeutil import utcnow
from qianshu.exchange import documents
from qianshu.exchange.models import ASSET_TRANSFER, TRANSFER_MODE, TRANSFER_PURPOSE, Contract, Order
from qianshu.exchange.permissions import trade
from qianshu.exchange.service import record_step
from qianshu.translog.service import append_events

LEAF = "exchange.asset_transferred"


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
    leaf = append_events(db, [(LEAF, {
        "number": number, "text_sha256": contract.text_sha256, "version": "1",
        "buyer_uscc": document["buyer"]["uscc"], "seller_uscc": document["seller"]["uscc"],
        "pledgee_uscc": parties[pledgee_org_id].uscc,
        "registration_number": document["product"]["registration_number"] or "",
        "cause": str(reference["kind"]), "cause_id": str(reference["id"])})])[0]
    record_step(db, actor, order, "asset_transferred", contract, at=now, price_fen=price_fen, source=reference,
                log_index=leaf.index)
    return contract


def contract_readable(db: Session, actor: Actor, contract_id: int) -> bool:
    """Whether the policy lets ``actor`` read the contract (its parties, exchange staff, and for an
    asset transfer the bank that sold): what a page asks before linking to it."""
    contract = db.get(Contract, contract_id)
    return contract is not None and allows(actor, "trade.read", trade(contract))
