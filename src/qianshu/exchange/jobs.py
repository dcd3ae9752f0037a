"""The exchange's periodic task: close expired quotes and contracts whose term ended."""

from __future__ import annotations

from qianshu.core.db import Database
from qianshu.core.settings import Settings


def expire_due(database: Database, settings: Settings) -> int:
    """One transaction per run (at most 500 of each kind; the next run takes the rest)."""
    from qianshu.exchange import service

    with database.unit_of_work() as db:
        quotes, contracts = service.expire_due(db)
    return quotes + contracts
