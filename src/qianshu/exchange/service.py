"""The basics every step of a trade uses: loading an order or a contract, asking the policy
(``require_role``), recording a step (timeline and audit) and telling the other party (inbox).

The steps themselves live in modules named for them: ``orders.py`` (order, quote, answer; the
contract drawn up), ``contracts.py`` (signatures, coming into force, ending, ``contract_is_active``),
``changes.py`` (amendments and early termination), ``payments.py``/``escrow.py``/``renewals.py``/
``refunds.py`` (money), and ``trades.py`` (reads: my trades, next steps, the timeline, and the
contracts other capabilities ask about). docs/exchange.md, "Modules".

Who may do what is the policy's (``exchange/permissions.py``): an order and its contract are
resources owned by the buyer with the seller as counterparty; a third organisation is told the
trade does not exist (404). When a step may be done is decided by each step on the row's status,
with conditional writes (the version column, ``flush_or_conflict``): of two people acting on one
trade at once, one wins and the other gets a 409.

Every step writes a timeline row (``exchange_timeline``, the "my trades" page), an audit row and,
for the other side, an inbox notification, in the transaction of the step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from qianshu.core import audit, inbox
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, NotFound
from qianshu.core.i18n import N_
from qianshu.core.policy import allows, require
from qianshu.core.timeutil import utcnow
from qianshu.exchange.models import ASSET_TRANSFER, Contract, Order, TimelineEntry
from qianshu.exchange.permissions import trade

CAPABILITY = "exchange"
NO_ORDER = N_("No such order.")
NO_CONTRACT = N_("No such contract.")
STALE = N_("This trade was changed by someone else in the meantime; reload it and try again.")
# How long a period of a subscription plan runs (each further period: exchange/renewals.py).
PERIOD_DAYS = {"monthly": 30, "yearly": 365}
# Paid before use (into escrow); the metered kinds (per call, per 1,000 rows) are charged per usage report.
PREPAID_KINDS = ("one_time", "monthly", "yearly", "quote")
METERED_KINDS = ("per_call", "per_1000_rows")


def load_order(db: Session, order_id: int) -> Order:
    order = db.get(Order, order_id)
    if order is None:
        raise NotFound(NO_ORDER)
    return order


def load_contract(db: Session, contract_id: int) -> Contract:
    # With its order and signatures in the same round trip: every step writes the order's
    # timeline and answers with the signatures (two statements fewer per payment).
    contract = db.get(Contract, contract_id, options=_WITH_ORDER_AND_SIGNATURES)
    if contract is None:
        raise NotFound(NO_CONTRACT)
    return contract


_WITH_ORDER_AND_SIGNATURES = (joinedload(Contract.order), joinedload(Contract.signatures))


def get_order(db: Session, actor: Actor, order_id: int) -> Order:
    order = load_order(db, order_id)
    require_role(actor, "trade.read", order, NO_ORDER)
    return order


def get_contract(db: Session, actor: Actor, contract_id: int) -> Contract:
    contract = load_contract(db, contract_id)
    require_role(actor, "trade.read", contract, NO_CONTRACT)
    return contract


def require_role(actor: Actor, action: str, item: Order | Contract, missing: str) -> None:
    """The policy's answer; a third organisation is told the trade does not exist, a party that
    may see it is told why it may not do this."""
    resource = trade(item)
    require(actor, action, resource, hidden=None if allows(actor, "trade.read", resource) else NotFound(missing))
    if action != "trade.read" and is_asset_transfer(item):  # settled by the sale itself (transfers.py)
        raise Conflict("This contract records the transfer of a data asset by forced sale, settled on the sale "
                       "itself: nothing can be signed, paid, delivered, refunded, disputed or changed on it.",
                       code="asset_transfer")


def is_asset_transfer(item: Order | Contract) -> bool:
    """An order or contract recording an asset transfer by forced sale (``exchange/transfers.py``)."""
    return item.plan_kind == ASSET_TRANSFER


def flush_or_conflict(db: Session) -> None:
    try:
        db.flush()
    except StaleDataError:
        raise Conflict(STALE) from None


def record_step(db: Session, actor: Actor, order: Order, step: str, contract: Contract | None = None,
                at: datetime | None = None, **detail: Any) -> None:
    db.add(TimelineEntry(order_id=order.id, contract_id=contract.id if contract else None, at=at or utcnow(),
                         actor_user_id=actor.user_id, actor_org_id=actor.org_id,
                         actor_label=actor.display_name[:200], step=step, detail=detail))
    target = ("contract", contract.id) if contract else ("order", order.id)
    audit.record(db, actor, f"exchange.{step}", target_type=target[0], target_id=target[1],
                 target_org_id=order.seller_org_id if actor.org_id == order.buyer_org_id else order.buyer_org_id,
                 **detail)


def notify_party(db: Session, org_id: int, message: str, order: Order, contract: Contract | None = None,
          **params: Any) -> None:
    """A notification to one party's shared inbox, linking to the trade."""
    if contract is not None:
        inbox.notify(db, CAPABILITY, message, org_id=org_id, subject=("contract", contract.id),
                     link=f"/exchange/contracts/{contract.id}", number=contract.number, **params)
    else:
        inbox.notify(db, CAPABILITY, message, org_id=org_id, subject=("order", order.id),
                     link=f"/exchange/orders/{order.id}", order=order.id, **params)


def party_of(actor: Actor, contract: Contract | Order) -> str | None:
    if actor.org_id == contract.buyer_org_id:
        return "buyer"
    if actor.org_id == contract.seller_org_id:
        return "seller"
    return None


def other_org_id(contract: Contract, party: str) -> int:
    return contract.seller_org_id if party == "buyer" else contract.buyer_org_id
