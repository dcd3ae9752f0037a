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

The pledge is then ``enforced`` (its leaf names the buyer, the price and the split) and the
rights pass to the buyer through the registry's transfer (``start_enforced_transfer``), reviewed,
noticed and issued as any transfer.

Until someone buys, the bank may withdraw its offer (``withdraw_forced_sale``, say the borrower
repaid after all): the sale is ``withdrawn``, the pledge is ``active`` again (enforceable as before:
released, enforced otherwise, or offered anew), a ``finance.pledge.sale_withdrawn`` leaf is
appended and the offer leaves ``/finance/sales`` and the lookup. Every step locks the asset's row
first, as pledges do: of two purchases, a purchase and a withdrawal, or a purchase and another
enforcement, at the same moment exactly one wins; the other gets a 409 and changes nothing.
"""

from __future__ import annotations

from datetime import date
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
from qianshu.core.timeutil import utcnow
from qianshu.exchange.payments import fee_of
from qianshu.exchange.settings import ExchangeSettings
from qianshu.finance.models import ForcedSale, Pledge
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
WITHDRAWN = N_("The bank withdrew the forced sale of your pledged asset {number}; the pledge stands as before.")
SOLD_BANK = N_("The forced sale of {number} was bought for {price} yuan: you received {to_bank} yuan of a debt "
               "of {debt} yuan.")


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
                     reason: str) -> ForcedSale:
    """The pledgee offers the asset of an active pledge in default at ``price_fen``."""
    pledge = managed_pledge(db, actor, pledge_id, "finance.pledge.manage")
    require_status(pledge, "active")
    if not reason.strip():
        raise InvalidInput("Say why the pledge is enforced.", field="reason")
    if price_fen is None or price_fen <= 0:
        raise InvalidInput("A forced sale needs its price (more than zero).", field="price_fen")
    sale = ForcedSale(pledge_id=pledge.id, registration_id=pledge.registration_id,
                      certificate_number=pledge.certificate_number, pledgee_org_id=pledge.pledgee_org_id,
                      pledgor_org_id=pledge.pledgor_org_id, price_fen=price_fen, reason=reason,
                      created_by=actor.user_id)
    db.add(sale)
    pledge.status = "selling"
    db.flush()
    record_event(db, actor, signer, pledge, "sale_listed",
                 {"sale_id": sale.id, "price_fen": price_fen, "reason": reason})
    inbox.notify(db, CAPABILITY, LISTED, org_id=pledge.pledgor_org_id, subject=("pledge", pledge.id),
                 link=f"/finance/lookup?number={pledge.certificate_number}", number=pledge.certificate_number,
                 price=f"{price_fen / 100:,.2f}")
    return sale


def _closed(sale: ForcedSale) -> Conflict:
    if sale.status == "withdrawn":
        return Conflict("The forced sale of {number} was withdrawn by the bank.", field="sale_id",
                        code="sale_closed", number=sale.certificate_number)
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
        raise _closed(found)
    require_status(pledge, "selling")
    found.status, found.closed_at = "withdrawn", utcnow()
    pledge.status = "active"
    db.flush()
    record_event(db, actor, signer, pledge, "sale_withdrawn", {"sale_id": found.id, "reason": reason.strip()})
    inbox.notify(db, CAPABILITY, WITHDRAWN, org_id=pledge.pledgor_org_id, subject=("pledge", pledge.id),
                 link=f"/finance/lookup?number={pledge.certificate_number}", number=pledge.certificate_number)
    return found


def open_sales(db: Session, actor: Actor) -> list[ForcedSale]:
    """The forced sales on offer, newest first (public, like the lookup)."""
    policy.require(actor, "finance.lookup")
    return list(db.scalars(select(ForcedSale).where(ForcedSale.status == "listed")
                           .order_by(ForcedSale.listed_at.desc(), ForcedSale.id.desc())))


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
        raise _closed(found)
    if actor.org_id in (found.pledgor_org_id, found.pledgee_org_id):
        raise Conflict("The holder and the pledgee cannot buy the asset in its own forced sale.", field="sale_id",
                       code="own_sale")
    pledge = db.get_one(Pledge, found.pledge_id, populate_existing=True)
    require_status(pledge, "selling")
    today = utcnow().date()
    reg, _status = registration_standing(db, found.certificate_number)
    fee_bp = settings.section(ExchangeSettings).fee_rate(reg.industry_code[:1])
    debt = debt_on(pledge, today)
    fee, to_bank, to_holder = split_proceeds(found.price_fen, fee_bp, debt)
    escrow = ledger.open_account(db, kind="escrow", owner_org_id=actor.org_id, reference=f"forced-sale-{found.id}")
    cause, memo = (CAUSE, found.id), found.certificate_number
    legs = [ledger.Leg(ledger.wallet_of(db, actor.org_id or 0), escrow, found.price_fen, "escrow", cause, memo,
                       f"pay:forced_sale:{found.id}")]
    for credit, amount, kind, ref in ((ledger.fee_account(db), fee, "fee", "fee"),
                                      (ledger.wallet_of(db, found.pledgee_org_id), to_bank, "settlement", "bank"),
                                      (ledger.wallet_of(db, found.pledgor_org_id), to_holder, "settlement", "holder")):
        if amount > 0:
            legs.append(ledger.Leg(escrow, credit, amount, kind, cause, memo, f"{ref}:forced_sale:{found.id}"))
    ledger.transfers(db, actor, legs, field="price_fen")
    transfer = review.start_enforced_transfer(db, actor, found.registration_id, actor.org_id or 0,
                                              f"forced sale: {found.reason}"[:2000])
    now = utcnow()
    found.status, found.closed_at, found.buyer_org_id = "sold", now, actor.org_id
    found.debt_fen, found.fee_fen, found.to_pledgee_fen, found.to_pledgor_fen = debt, fee, to_bank, to_holder
    found.transfer_registration_id = transfer.id
    pledge.status, pledge.closed_at, pledge.close_reason = "enforced", now, found.reason
    buyer = accounts.organisations_by_id(db, [actor.org_id or 0])[actor.org_id or 0]
    record_event(db, actor, signer, pledge, "enforced", {
        "reason": found.reason, "mode": "sale", "sale_id": found.id, "buyer_uscc": buyer.uscc,
        "price_fen": found.price_fen, "debt_fen": debt, "fee_fen": fee, "to_pledgee_fen": to_bank,
        "to_pledgor_fen": to_holder, "transfer_registration_id": transfer.id})
    params: dict[str, Any] = {"number": found.certificate_number, "price": f"{found.price_fen / 100:,.2f}",
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
            "transfer_registration_id": sale.transfer_registration_id, "listed_at": sale.listed_at.isoformat(),
            "closed_at": sale.closed_at.isoformat() if sale.closed_at else None}
