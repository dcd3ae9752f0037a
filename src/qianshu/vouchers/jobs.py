"""Vouchers' periodic tasks: the unspent value of expired vouchers returns to the budget; an ended
programme's unspent budget returns to its administrator's wallet."""

from __future__ import annotations

from qianshu.core.db import Database
from qianshu.core.settings import Settings


def lapse_expired(database: Database, settings: Settings) -> int:
    from qianshu.vouchers import service

    with database.unit_of_work() as db:
        return service.lapse_expired(db)


def close_ended(database: Database, settings: Settings) -> int:
    from qianshu.vouchers import closing

    with database.unit_of_work() as db:
        return closing.close_ended(db)
