"""The periodic task of monitoring cases: tell the caseworkers of steps past their deadline."""

from __future__ import annotations

from qianshu.core.db import Database
from qianshu.core.settings import Settings


def tell_overdue_steps(database: Database, settings: Settings) -> int:
    """One transaction per run (at most 500 cases; the next run takes the rest)."""
    from qianshu.monitoring import cases

    with database.unit_of_work() as db:
        return cases.tell_overdue(db)
