"""Bidding in a forced sale's auction (``finance/sale.py`` offers the asset; with a closing time the
offer is an auction whose ``price_fen`` is the reserve).

An approved organisation other than the holder and the bank bids (``place_bid``): the first bid at
least the reserve, each later one at least the best bid plus the sale's step. The bid's money
moves from the bidder's wallet to an escrow account of the bid's own, and in the same ledger batch
the previous best bid's escrow goes back to its bidder (who is told). Every bid locks the asset's
row first, as every pledge step does: of two equal bids at once one leads and the other is refused
(409 ``bid_too_low``) before any money moves.

At the closing time the auction closes (``close_sale``; the periodic task ``finance.close_sales``
and the sale's page and API on read, whichever comes first: closing twice does nothing): the best
bid wins and pays from its escrow, as a purchase does, the fee, the bank up to the debt and the
holder the rest, and the rights pass to the winner by the registry's transfer. Without a bid the
sale is ``unsold`` and the pledge ``active`` again (the bank may record the default, transfer the
rights to itself, or offer the asset anew).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core import inbox, policy
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import N_
from qianshu.core.settings import Settings
from qianshu.core.signing import Ed25519Signer
from qianshu.core.timeutil import as_utc, utcnow
from qianshu.finance import sale
from qianshu.finance.models import ForcedSale, Pledge, SaleBid
from qianshu.finance.service import CAPABILITY, lock_asset, record_event
from qianshu.ledger import service as ledger

BID_LEADS = N_("A bid of {amount} yuan now leads the forced sale of {number}.")
OUTBID = N_("Your bid of {amount} yuan in the forced sale of {number} was outbid ({best} yuan); your money is back "
            "in your wallet.")
WON = N_("You won the forced sale of {number} with your bid of {amount} yuan: the rights pass to you by a transfer "
         "registration the exchange reviews.")
UNSOLD = N_("The forced sale of {number} closed without a bid; the pledge stands as before.")


def _yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def _sale(db: Session, sale_id: int) -> ForcedSale:
    found = db.get(ForcedSale, sale_id)
    if found is None:
        raise NotFound("Forced sale {id} does not exist.", id=sale_id)
    return found


def is_due(found: ForcedSale, now: datetime | None = None) -> bool:
    """An auction on offer whose closing time has passed (it closes at the next task run or read)."""
    return (found.status == "listed" and found.closes_at is not None
            and as_utc(found.closes_at) <= (now or utcnow()))


def minimum_bid(db: Session, found: ForcedSale) -> int:
    """What the next bid must at least be: the reserve, or the best bid plus the step."""
    best = sale.leading_bid(db, found.id)
    return found.price_fen if best is None else best.amount_fen + (found.step_fen or sale.default_step(found.price_fen))


def place_bid(db: Session, actor: Actor, signer: Ed25519Signer, sale_id: int, amount_fen: int) -> SaleBid:
    """A bid of ``amount_fen`` from the actor's organisation's wallet into the bid's escrow; the
    previous best bid's money goes back to its bidder in the same batch."""
    policy.require(actor, "finance.sale.buy")
    found = _sale(db, sale_id)
    lock_asset(db, found.registration_id, found.certificate_number)
    db.refresh(found)  # as the lock holder left it
    if found.status != "listed":
        raise sale.closed_conflict(found)
    if found.closes_at is None:
        raise Conflict("The forced sale of {number} is at a fixed price: buy it at that price.", field="sale_id",
                       code="not_an_auction", number=found.certificate_number)
    if is_due(found):
        raise Conflict("Bidding in the forced sale of {number} has closed.", field="sale_id", code="sale_closed",
                       number=found.certificate_number)
    if actor.org_id in (found.pledgor_org_id, found.pledgee_org_id):
        raise Conflict("The holder and the pledgee cannot bid in the asset's own forced sale.", field="sale_id",
                       code="own_sale")
    best = sale.leading_bid(db, found.id)
    least = minimum_bid(db, found)
    if best is None and amount_fen < least:
        raise InvalidInput("A bid must be at least the reserve price of {reserve} yuan.", field="amount_fen",
                           code="bid_below_reserve", reserve=_yuan(least))
    if best is not None and amount_fen < least:
        raise Conflict("A bid must be at least {minimum} yuan: the best bid is {best} yuan.", field="amount_fen",
                       code="bid_too_low", minimum=_yuan(least), best=_yuan(best.amount_fen))
    bid = SaleBid(sale_id=found.id, bidder_org_id=actor.org_id or 0, amount_fen=amount_fen, created_by=actor.user_id)
    db.add(bid)
    db.flush()
    paid = ledger.Leg(ledger.wallet_of(db, bid.bidder_org_id), sale.bid_escrow(db, bid), amount_fen, "escrow",
                      (sale.CAUSE, found.id), found.certificate_number, f"bid:forced_sale_bid:{bid.id}")
    if best is None:
        ledger.transfers(db, actor, [paid], field="amount_fen")
    else:
        sale.return_bid(db, actor, found, best, [paid])  # one batch: the new bid in, the old one back
    pledge = db.get_one(Pledge, found.pledge_id)
    # the amount is public, as the reserve is; who bid is not (the winner's USCC is, at closing)
    record_event(db, actor, signer, pledge, "bid_placed", {"sale_id": found.id, "bid_id": bid.id,
                                                           "amount_fen": amount_fen})
    link, amount = f"/finance/sales/{found.id}", _yuan(amount_fen)
    for org_id in (found.pledgee_org_id, found.pledgor_org_id):
        inbox.notify(db, CAPABILITY, BID_LEADS, org_id=org_id, subject=("forced_sale", found.id), link=link,
                     number=found.certificate_number, amount=amount)
    if best is not None:
        inbox.notify(db, CAPABILITY, OUTBID, org_id=best.bidder_org_id, subject=("forced_sale", found.id), link=link,
                     number=found.certificate_number, amount=_yuan(best.amount_fen), best=amount)
    return bid


def close_sale(db: Session, settings: Settings, signer: Ed25519Signer, sale_id: int,
               now: datetime | None = None) -> ForcedSale:
    """Close an auction past its closing time: the best bid buys, or nobody (``unsold``). Closing a
    sale that is not due, or closed already, changes nothing."""
    found = _sale(db, sale_id)
    if not is_due(found, now):
        return found
    lock_asset(db, found.registration_id, found.certificate_number)
    db.refresh(found)
    if not is_due(found, now):  # closed meanwhile by another run or reader
        return found
    best = sale.leading_bid(db, found.id)
    link = f"/finance/lookup?number={found.certificate_number}"
    if best is None:
        pledge = db.get_one(Pledge, found.pledge_id, populate_existing=True)
        found.status, found.closed_at = "unsold", utcnow()
        pledge.status = "active"
        db.flush()
        record_event(db, SYSTEM, signer, pledge, "sale_unsold", {"sale_id": found.id})
        for org_id in (found.pledgee_org_id, found.pledgor_org_id):
            inbox.notify(db, CAPABILITY, UNSOLD, org_id=org_id, subject=("pledge", pledge.id), link=link,
                         number=found.certificate_number)
        return found
    best.status, best.closed_at = "won", utcnow()
    sale.settle_sale(db, SYSTEM, settings, signer, found, best.bidder_org_id, best.amount_fen,
                     sale.bid_escrow(db, best), [], {"bid_id": best.id})
    inbox.notify(db, CAPABILITY, WON, org_id=best.bidder_org_id, subject=("forced_sale", found.id), link=link,
                 number=found.certificate_number, amount=_yuan(best.amount_fen))
    return found


def due_sales(db: Session, limit: int = 100) -> list[int]:
    """The auctions past their closing time (at most ``limit``; the next run takes the rest)."""
    return list(db.scalars(select(ForcedSale.id).where(ForcedSale.status == "listed",
                                                       ForcedSale.closes_at.is_not(None),
                                                       ForcedSale.closes_at <= utcnow())
                           .order_by(ForcedSale.closes_at).limit(limit)))


def bids_of(db: Session, sale_id: int) -> list[SaleBid]:
    """The sale's bids, best first."""
    return list(db.scalars(select(SaleBid).where(SaleBid.sale_id == sale_id)
                           .order_by(SaleBid.amount_fen.desc(), SaleBid.id)))


def bid_json(bid: SaleBid) -> dict[str, object]:
    return {"id": bid.id, "sale_id": bid.sale_id, "bidder_org_id": bid.bidder_org_id, "amount_fen": bid.amount_fen,
            "status": bid.status, "created_at": bid.created_at.isoformat()}
