"""The exchange on the home page: contracts in force; what waits for a trader."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core.actor import Actor
from qianshu.core.home import Figure, Waiting
from qianshu.core.i18n import N_, NN_
from qianshu.exchange.models import Contract
from qianshu.exchange.trades import next_steps

TRADES = "/exchange/trades"


def figures(db: Session) -> list[Figure]:
    # The statistics page's headline: every contract both parties signed (active, ended or
    # terminated since) or recorded as an asset transfer by forced sale, as on /statistics.
    signed = select(func.count()).select_from(Contract).where(Contract.starts_at.is_not(None))
    return [Figure(N_("Transactions"), int(db.scalar(signed) or 0), "/statistics")]


def waiting(db: Session, actor: Actor) -> list[Waiting]:
    steps = next_steps(db, actor)
    found = [
        Waiting(*NN_("{n} quote to answer", "{n} quotes to answer"), steps.quotes_to_answer, TRADES),
        Waiting(*NN_("{n} order to accept", "{n} orders to accept"), steps.orders_to_accept, TRADES),
        Waiting(*NN_("{n} quote to decide on", "{n} quotes to decide on"), steps.quotes_to_decide, TRADES),
        Waiting(*NN_("{n} contract to accept", "{n} contracts to accept"), steps.contracts_to_sign, TRADES),
        Waiting(*NN_("{n} contract change to decide on", "{n} contract changes to decide on"),
                steps.changes_to_decide, TRADES),
        Waiting(*NN_("{n} payment due", "{n} payments due"), steps.payments_due, TRADES),
        Waiting(*NN_("{n} delivery to make", "{n} deliveries to make"), steps.deliveries_to_make, TRADES),
        Waiting(*NN_("{n} delivery to confirm", "{n} deliveries to confirm"), steps.deliveries_to_confirm, TRADES),
        Waiting(*NN_("{n} dispute open", "{n} disputes open"), steps.disputes, TRADES),
        Waiting(*NN_("{n} refund request to answer", "{n} refund requests to answer"), steps.refunds_to_answer,
                TRADES),
        Waiting(*NN_("{n} refund request to decide", "{n} refund requests to decide"), steps.refunds_to_decide,
                TRADES),
    ]
    return [w for w in found if w.count]
