"""The ledger's periodic task: forget idempotency keys whose time is over."""

from __future__ import annotations

from qianshu.core import idempotency
from qianshu.core.db import Database
from qianshu.core.settings import Settings


def purge_idempotency_keys(database: Database, settings: Settings) -> int:
    with database.unit_of_work() as db:
        return idempotency.purge_expired(db)
