"""Delivery's periodic tasks: report the data API's usage to the exchange's billing."""

from __future__ import annotations

from qianshu.core.db import Database
from qianshu.core.settings import Settings


def report_api_usage(database: Database, settings: Settings) -> int:
    """Each closed meter interval once (at most 500 a run; the next run takes the rest)."""
    from qianshu.delivery import data_api
    from qianshu.delivery.settings import DeliverySettings

    with database.unit_of_work() as db:
        return data_api.report_usage(db, settings.section(DeliverySettings))
