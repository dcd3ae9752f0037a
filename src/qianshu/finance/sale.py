"""The forced sale of a pledged asset on default, on the exchange.

The pledgee bank offers the asset at a price (``list_forced_sale``): the pledge becomes
``selling`` (the asset stays encumbered: it cannot be revoked, transferred or pledged again), a
``finance.pledge.sale_listed`` leaf is appended, and the offer is public on ``/finance/sales``
and on the certificate's lookup. The first approved organisation that buys it
(``buy_forced_sale``) pays the price from its exchange wallet; on the ledger, in one batch caused
by ``("forced_sale", id)``:

* the exchange's fee (``[exchange] fee_basis_points``, by the asset's industry section, as for a
  contract's settlement) to the fee account;
* the bank, up to the **debt**: the secured amount plus simple interest at the pledge's rate from
  its start to the day of sale (``secured × rate × days ÷ 365``, rounded down to the fen);
* the holder (pledgor), whatever is left.

The pledge is then ``enforced`` (its leaf names the buyer, the price, the split and the contract)
and the rights pass to the buyer through the registry's transfer (``start_enforced_transfer``),
reviewed, noticed and issued as any transfer. In the same transaction the sale becomes a contract
of the exchange (``exchange/transfers.py``: holder seller, buyer buyer, the price, ``completed`` and
``settled``, booking nothing), so that it is in both parties' contracts and the public statistics.

Until someone buys, the bank may withdraw its offer (``withdraw_forced_sale``, say the borrower
repaid after all): the sale is ``withdrawn``, the pledge is ``active`` again (enforceable as before:
released, enforced otherwise, or offered anew), a ``finance.pledge.sale_withdrawn`` leaf is
appended and the offer leaves ``/finance/sales`` and the lookup. Every step locks the asset's row
first, as pledges do: of two purchases, a purchase and a withdrawal, or a purchase and another
enforcement, at the same moment exactly one wins; the other gets a 409 and changes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import inbox, policy
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import N_
from qianshu.core.settings import Settings
from qianshu.core.signing import Ed25519Signer
from qianshu.core.timeutil import SHANGHAI, utcnow
from qianshu.exchange import transfers
from qianshu.exchange.payments import fee_of
from qianshu.exchange.settings import ExchangeSettings
from qianshu.finance.models import ForcedSale, Pledge, SaleBid
from qianshu.finance.service import (
    CAPABILITY,
    lock_asset,
    managed_pledge,
    record_event,
    registration_standing,
    require_status,
)
from qianshu.ledger import service as ledger
from qianshu.registry import review

CAUSE = "forced_sale"
LISTED = N_("The bank offers your pledged asset {number} in a forced sale on the exchange at {price} yuan.")
SOLD_HOLDER = N_("Your pledged asset {number} was sold in a forced sale for {price} yuan: the bank received "
                 "{to_bank} yuan, you received {to_holder} yuan.")
LISTED_AUCTION = N_("The bank offers your pledged asset {number} in a forced sale on the exchange by auction, with "
                    "a reserve price of {price} yuan.")
WITHDRAWN = N_("The bank withdrew the forced sale of your pledged asset {number}; the pledge stands as before.")
BID_RETURNED = N_("Your bid of {amount} yuan in the forced sale of {number} is back in your wallet: the bank "
                  "withdrew the sale.")
SOLD_BANK = N_("The forced sale of {number} was bought for {price} yuan: you received {to_bank} yuan of a debt "
               "of {debt} yuan.")


MIN_AUCTION_DAYS, MAX_AUCTION_DAYS = 1, 30


def default_step(reserve_fen: int) -> int:
    """1 % of the reserve, rounded up, and at least one yuan."""
    return max(100, -(-reserve_fen // 100))


def debt_on(pledge: Pledge, day: date) -> int:
    """What the pledge secures on ``day``: the secured amount and simple interest at its rate since
    it started (actual days ÷ 365, rounded down to the fen)."""
    days = max(0, (day - pledge.starts_on).days)
    return pledge.secured_fen + pledge.secured_fen * pledge.interest_bp * days // (10_000 * 365)


def split_proceeds(price_fen: int, fee_bp: int, debt_fen: int) -> tuple[int, int, int]:
    """(fee, to the bank, to the holder): the fee first, then the bank up to the debt, then the holder."""
    fee = fee_of(price_fen, fee_bp)
    to_bank = min(price_fen - fee, debt_fen)
    return fee, to_bank, price_fen - fee - to_bank


def list_forced_sale(db: Session, actor: Actor, signer: Ed25519Signer, pledge_id: int, price_fen: int | None,
                     reason: str, closes_in_days: int | None = None, step_fen: int | None = None) -> ForcedSale:
    """The pledgee offers the asset of an active pledge in default at ``price_fen``; with
    ``closes_in_days`` (1-30) by auction, ``price_fen`` being the reserve and ``step_fen`` (by
    default 1 % of the reserve, at least one yuan) how much a bid must beat the best one by."""
    pledge = managed_pledge(db, actor, pledge_id, "finance.pledge.manage")
    require_status(pledge, "active")
    if not reason.strip():
        raise InvalidInput("Say why the pledge is enforced.", field="reason")
    if price_fen is None or price_fen <= 0:
        raise InvalidInput("A forced sale needs its price (more than zero).", field="price_fen")
    closes_at = None
    if closes_in_days is not None:
        if not MIN_AUCTION_DAYS <= closes_in_days <= MAX_AUCTION_DAYS:
            raise InvalidInput("An auction closes in {low} to {high} days.", field="closes_in_days",
                               low=MIN_AUCTION_DAYS, high=MAX_AUCTION_DAYS)
        closes_at = utcnow() + timedelta(days=closes_in_days)
        step_fen = step_fen or default_step(price_fen)
    elif step_fen is not None:
        raise InvalidInput("A minimum step needs an auction: give its closing (days).", field="closes_in_days")
    sale = ForcedSale(pledge_id=pledge.id, registration_id=pledge.registration_id,
                      certificate_number=pledge.certificate_number, pledgee_org_id=pledge.pledgee_org_id,
                      pledgor_org_id=pledge.pledgor_org_id, price_fen=price_fen, reason=reason,
                      created_by=actor.user_id, closes_at=closes_at, step_fen=step_fen)
    db.add(sale)
    pledge.status = "selling"
    db.flush()
    auction = {} if closes_at is None else {"closes_at": closes_at.isoformat(), "step_fen": step_fen}
    record_event(db, actor, signer, pledge, "sale_listed",
                 {"sale_id": sale.id, "price_fen": price_fen, "reason": reason, **auction})
    inbox.notify(db, CAPABILITY, LISTED if closes_at is None else LISTED_AUCTION, org_id=pledge.pledgor_org_id,
                 subject=("pledge", pledge.id), link=f"/finance/lookup?number={pledge.certificate_number}",
                 number=pledge.certificate_number, price=f"{price_fen / 100:,.2f}")
    return sale


def closed_conflict(sale: ForcedSale) -> Conflict:
    if sale.status == "withdrawn":
        return Conflict("The forced sale of {number} was withdrawn by the bank.", field="sale_id",
                        code="sale_closed", number=sale.certificate_number)
    if sale.status == "unsold":
        return Conflict("The forced sale of {number} closed without a bid.", field="sale_id", code="sale_closed",
                        number=sale.certificate_number)
    return Conflict("The forced sale of {number} is closed: someone else bought it first.", field="sale_id",
                    code="sale_closed", number=sale.certificate_number)


def listed_sale_of(db: Session, pledge_id: int) -> ForcedSale | None:
    """The pledge's forced sale on offer, if any."""
    return db.scalar(select(ForcedSale).where(ForcedSale.pledge_id == pledge_id, ForcedSale.status == "listed"))


def withdraw_forced_sale(db: Session, actor: Actor, signer: Ed25519Signer, sale_id: int,
                         reason: str = "") -> ForcedSale:
    """The pledgee takes its offer back before anyone buys: the pledge is ``active`` again."""
    found = db.get(ForcedSale, sale_id)
    if found is None:
        raise NotFound("Forced sale {id} does not exist.", id=sale_id)
    pledge = managed_pledge(db, actor, found.pledge_id, "finance.pledge.manage")  # locks the asset
    db.refresh(found)  # as the lock holder left it
    if found.status != "listed":
        raise closed_conflict(found)
    require_status(pledge, "selling")
    found.status, found.closed_at = "withdrawn", utcnow()
    pledge.status = "active"
    leading = leading_bid(db, found.id)
    if leading is not None:  # the bidder's money goes back
        return_bid(db, actor, found, leading, [])
        inbox.notify(db, CAPABILITY, BID_RETURNED, org_id=leading.bidder_org_id, subject=("forced_sale", found.id),
                     link=f"/finance/sales/{found.id}", number=found.certificate_number,
                     amount=f"{leading.amount_fen / 100:,.2f}")
    db.flush()
    record_event(db, actor, signer, pledge, "sale_withdrawn", {"sale_id": found.id, "reason": reason.strip()})
    inbox.notify(db, CAPABILITY, WITHDRAWN, org_id=pledge.pledgor_org_id, subject=("pledge", pledge.id),
                 link=f"/finance/lookup?number={pledge.certificate_number}", number=pledge.certificate_number)
    return found


def leading_bid(db: Session, sale_id: int) -> SaleBid | None:
    """The auction's best bid (its money in escrow), if any."""
    return db.scalar(select(SaleBid).where(SaleBid.sale_id == sale_id, SaleBid.status == "leading"))


def bid_escrow(db: Session, bid: SaleBid) -> Any:
    return ledger.open_account(db, kind="escrow", owner_org_id=bid.bidder_org_id,
                               reference=f"forced-sale-{bid.sale_id}-bid-{bid.id}")


def return_bid(db: Session, actor: Actor, found: ForcedSale, bid: SaleBid, legs: list[ledger.Leg]) -> None:
    """The bid's money from its escrow back to the bidder's wallet, in one batch after ``legs``; the
    bid is ``outbid``."""
    back = ledger.Leg(bid_escrow(db, bid), ledger.wallet_of(db, bid.bidder_org_id), bid.amount_fen, "refund",
                      (CAUSE, found.id), found.certificate_number, f"return:forced_sale_bid:{bid.id}")
    ledger.transfers(db, actor, [*legs, back], field="amount_fen")
    bid.status, bid.closed_at = "outbid", utcnow()


def open_sales(db: Session, actor: Actor) -> list[ForcedSale]:
    """The forced sales on offer, newest first (public, like the lookup)."""
    policy.require(actor, "finance.lookup")
    return list(db.scalars(select(ForcedSale).where(ForcedSale.status == "listed")
                           .order_by(ForcedSale.listed_at.desc(), ForcedSale.id.desc())))


def sale_on_offer(db: Session, registration_id: int) -> ForcedSale | None:
    """The asset's forced sale on offer (at most one: its open pledges' sales lock the asset), if any."""
    return db.scalar(select(ForcedSale).where(ForcedSale.registration_id == registration_id,
                                              ForcedSale.status == "listed").order_by(ForcedSale.id.desc()).limit(1))


def sale_of_contract(db: Session, contract_id: int) -> ForcedSale | None:
    """The sold forced sale an exchange contract records, if any."""
    return db.scalar(select(ForcedSale).where(ForcedSale.contract_id == contract_id))


def sales_of(db: Session, registration_id: int) -> list[ForcedSale]:
    """The asset's forced sales on offer or sold (a withdrawn offer is only in the pledge's history)."""
    return list(db.scalars(select(ForcedSale).where(ForcedSale.registration_id == registration_id,
                                                    ForcedSale.status != "withdrawn")
                           .order_by(ForcedSale.id)))


def buy_forced_sale(db: Session, actor: Actor, settings: Settings, signer: Ed25519Signer, sale_id: int) -> ForcedSale:
    """The buyer pays the price; the proceeds are split on the ledger and the rights are transferred."""
    policy.require(actor, "finance.sale.buy")
    found = db.get(ForcedSale, sale_id)
    if found is None:
        raise NotFound("Forced sale {id} does not exist.", id=sale_id)
    lock_asset(db, found.registration_id, found.certificate_number)
    db.refresh(found)  # as the lock holder left it
    if found.status != "listed":
        raise closed_conflict(found)
    if found.closes_at is not None:
        raise Conflict("The forced sale of {number} is an auction: place a bid.", field="sale_id", code="auction",
                       number=found.certificate_number)
    if actor.org_id in (found.pledgor_org_id, found.pledgee_org_id):
        raise Conflict("The holder and the pledgee cannot buy the asset in its own forced sale.", field="sale_id",
                       code="own_sale")
    escrow = ledger.open_account(db, kind="escrow", owner_org_id=actor.org_id, reference=f"forced-sale-{found.id}")
    paid = ledger.Leg(ledger.wallet_of(db, actor.org_id or 0), escrow, found.price_fen, "escrow", (CAUSE, found.id),
                      found.certificate_number, f"pay:forced_sale:{found.id}")
    return settle_sale(db, actor, settings, signer, found, actor.org_id or 0, found.price_fen, escrow, [paid])


def settle_sale(db: Session, actor: Actor, settings: Settings, signer: Ed25519Signer, found: ForcedSale,
                buyer_org_id: int, price_fen: int, escrow: Any, first: list[ledger.Leg],
                details: dict[str, Any] | None = None) -> ForcedSale:
    """The sale's money out of ``escrow`` (after the legs ``first`` that fill it, if any) in one
    ledger batch: the fee, the bank up to the debt, the holder the rest; the pledge is enforced and
    the rights pass to the buyer by the registry's transfer. The caller holds the asset's lock."""
    pledge = db.get_one(Pledge, found.pledge_id, populate_existing=True)
    require_status(pledge, "selling")
    today = utcnow().astimezone(SHANGHAI).date()  # the day of sale in China, as the loan's start
    reg, _status = registration_standing(db, found.certificate_number)
    fee_bp = settings.section(ExchangeSettings).fee_rate(reg.industry_code[:1])
    debt = debt_on(pledge, today)
    fee, to_bank, to_holder = split_proceeds(price_fen, fee_bp, debt)
    cause, memo = (CAUSE, found.id), found.certificate_number
    legs = list(first)
    for credit, amount, kind, ref in ((ledger.fee_account(db), fee, "fee", "fee"),
                                      (ledger.wallet_of(db, found.pledgee_org_id), to_bank, "settlement", "bank"),
                                      (ledger.wallet_of(db, found.pledgor_org_id), to_holder, "settlement", "holder")):
        if amount > 0:
            legs.append(ledger.Leg(escrow, credit, amount, kind, cause, memo, f"{ref}:forced_sale:{found.id}"))
    ledger.transfers(db, actor, legs, field="price_fen")
    transfer = review.start_enforced_transfer(db, actor, found.registration_id, buyer_org_id,
                                              f"forced sale: {found.reason}"[:2000])
    now = utcnow()
    # the sale as a trade of the exchange (both parties' contracts, statistics); it books nothing
    contract = transfers.record_asset_transfer(
        db, actor, registration_id=found.registration_id, seller_org_id=found.pledgor_org_id,
        buyer_org_id=buyer_org_id, pledgee_org_id=found.pledgee_org_id, price_fen=price_fen, fee_fen=fee,
        reason=found.reason,
        reference={"kind": CAUSE, "id": found.id}, at=now)
    found.status, found.closed_at, found.buyer_org_id = "sold", now, buyer_org_id
    found.debt_fen, found.fee_fen, found.to_pledgee_fen, found.to_pledgor_fen = debt, fee, to_bank, to_holder
    found.transfer_registration_id, found.contract_id = transfer.id, contract.id
    pledge.status, pledge.closed_at, pledge.close_reason = "enforced", now, found.reason
    buyer = accounts.organisations_by_id(db, [buyer_org_id])[buyer_org_id]
    record_event(db, actor, signer, pledge, "enforced", {
        "reason": found.reason, "mode": "sale", "sale_id": found.id, "buyer_uscc": buyer.uscc,
        "price_fen": price_fen, "debt_fen": debt, "fee_fen": fee, "to_pledgee_fen": to_bank,
        "to_pledgor_fen": to_holder, "transfer_registration_id": transfer.id, "contract_number": contract.number,
        "contract_sha256": contract.text_sha256, **(details or {})})
    params: dict[str, Any] = {"number": found.certificate_number, "price": f"{price_fen / 100:,.2f}",
                              "to_bank": f"{to_bank / 100:,.2f}", "to_holder": f"{to_holder / 100:,.2f}",
                              "debt": f"{debt / 100:,.2f}"}
    link = f"/finance/lookup?number={found.certificate_number}"
    inbox.notify(db, CAPABILITY, SOLD_HOLDER, org_id=found.pledgor_org_id, subject=("pledge", pledge.id), link=link,
                 **params)
    inbox.notify(db, CAPABILITY, SOLD_BANK, org_id=found.pledgee_org_id, subject=("pledge", pledge.id), link=link,
                 **params)
    return found


def sale_json(sale: ForcedSale) -> dict[str, Any]:
    return {"id": sale.id, "pledge_id": sale.pledge_id, "certificate_number": sale.certificate_number,
            "status": sale.status, "price_fen": sale.price_fen, "reason": sale.reason,
            "pledgee_org_id": sale.pledgee_org_id, "pledgor_org_id": sale.pledgor_org_id,
            "buyer_org_id": sale.buyer_org_id, "debt_fen": sale.debt_fen, "fee_fen": sale.fee_fen,
            "to_pledgee_fen": sale.to_pledgee_fen, "to_pledgor_fen": sale.to_pledgor_fen,
            "transfer_registration_id": sale.transfer_registration_id, "contract_id": sale.contract_id,
            "listed_at": sale.listed_at.isoformat(),
            "closed_at": sale.closed_at.isoformat() if sale.closed_at else None,
            "kind": "fixed" if sale.closes_at is None else "auction",
            "closes_at": sale.closes_at.isoformat() if sale.closes_at else None, "step_fen": sale.step_fen}
