"""Delivery's periodic tasks: report the data API's usage to the exchange's billing; sweep the
cached shared files of ended contracts and past their age (delivery/caches.py)."""

from __future__ import annotations

from qianshu.core.db import Database
from qianshu.core.settings import Settings


def report_api_usage(database: Database, settings: Settings) -> int:
    """Each closed meter interval once (at most 500 a run; the next run takes the rest)."""
    from qianshu.delivery import data_api
    from qianshu.delivery.settings import DeliverySettings

    with database.unit_of_work() as db:
        return data_api.report_usage(db, settings.section(DeliverySettings))


def sweep_caches(database: Database, settings: Settings) -> int:
    """Remove cached Delta Sharing versions that are due and not in use; how many were removed."""
    from qianshu.delivery import caches
    from qianshu.delivery.settings import DeliverySettings
    from qianshu.exchange import contracts as exchange_contracts

    section = settings.section(DeliverySettings)

    def in_force(contract_id: int) -> bool:
        with database.unit_of_work(write=False) as db:
            return exchange_contracts.contract_is_active(db, contract_id, "delta_sharing")

    report = caches.sweep(settings.data_dir, in_force=in_force, max_age_seconds=section.sharing_cache_days * 86_400.0,
                          url_seconds=section.sharing_url_minutes * 60.0)
    return len(report.removed)
