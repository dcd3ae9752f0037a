"""The exchange's periodic tasks: close expired quotes and ended contracts; accept deliveries by
themselves. And the work of ``qianshu exchange backfill-transfer-leaves``, which owns its
transactions as they do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qianshu.core.db import Database
from qianshu.core.settings import Settings

if TYPE_CHECKING:
    from qianshu.exchange.transfers import LoggedTransfer


def expire_due(database: Database, settings: Settings) -> int:
    """One transaction per run (at most 500 of each kind; the next run takes the rest)."""
    from qianshu.exchange import contracts

    with database.unit_of_work() as db:
        quotes, ended = contracts.expire_due(db)
    return quotes + ended


def auto_accept_deliveries(database: Database, settings: Settings) -> int:
    """Settle what was delivered ``auto_accept_days`` ago and neither accepted nor disputed: first
    periods (the contract's price) and renewed periods of subscriptions alike."""
    from qianshu.exchange import payments, renewals
    from qianshu.exchange.settings import ExchangeSettings

    section = settings.section(ExchangeSettings)
    with database.unit_of_work() as db:
        return payments.auto_accept_due(db, section) + renewals.auto_accept_due(db, section)


def renew_subscriptions(database: Database, settings: Settings) -> int:
    """Charge the next period of subscriptions into its escrow when their term ends within a day
    (or let them lapse)."""
    from qianshu.exchange import renewals
    from qianshu.exchange.settings import ExchangeSettings

    with database.unit_of_work() as db:
        renewed, lapsed = renewals.renew_due(db, settings.section(ExchangeSettings))
    return renewed + lapsed


def bill_usage(database: Database, settings: Settings) -> int:
    """One bill per metered contract and ended period (Asia/Shanghai month); unpaid bills again."""
    from qianshu.exchange import payments
    from qianshu.exchange.settings import ExchangeSettings

    with database.unit_of_work() as db:
        charged, unpaid = payments.bill_usage_due(db, settings.section(ExchangeSettings))
    return charged + unpaid


def escalate_refund_requests(database: Database, settings: Settings) -> int:
    """Refund requests the seller left unanswered for ``refund_answer_days`` go to the operators."""
    from qianshu.exchange import refunds
    from qianshu.exchange.settings import ExchangeSettings

    with database.unit_of_work() as db:
        return refunds.escalate_unanswered(db, settings.section(ExchangeSettings))


def count_sales(database: Database, settings: Settings) -> int:
    """Each product's count of sales, recounted from the settled contracts (popularity)."""
    from qianshu.exchange import trades

    with database.unit_of_work() as db:
        return trades.recount_sales(db)


def backfill_transfer_leaves(database: Database, settings: Settings) -> list[LoggedTransfer]:
    """Give every asset transfer by forced sale recorded before migration 0039 its public-log leaf,
    each in a transaction of its own (with a signed tree head that covers it); the leaves appended.
    A second run appends nothing, and two runs at once append one leaf per transfer
    (``transfers.log_missing_leaf`` locks the contract and looks again)."""
    from qianshu.core.actor import SYSTEM
    from qianshu.core.signing import load_signer
    from qianshu.exchange import transfers

    signer = load_signer(settings.key_dir)
    with database.unit_of_work(write=False) as db:
        missing = transfers.transfers_without_leaf(db)
    logged = []
    for contract_id in missing:
        with database.unit_of_work() as db:
            done = transfers.log_missing_leaf(db, SYSTEM, signer, contract_id)
        if done is not None:
            logged.append(done)
    return logged
