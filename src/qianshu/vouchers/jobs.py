"""Vouchers' periodic task: the unspent value of expired vouchers returns to the budget."""

from __future__ import annotations

from qianshu.core.db import Database
from qianshu.core.settings import Settings


def lapse_expired(database: Database, settings: Settings) -> int:
    from qianshu.vouchers import service

    with database.unit_of_work() as db:
        return service.lapse_expired(db)
