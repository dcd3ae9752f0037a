"""Finance's periodic task: close the forced sales' auctions whose closing time has passed."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from qianshu.core.db import Database
from qianshu.core.errors import QianshuError
from qianshu.core.settings import Settings

log = logging.getLogger(__name__)


def close_sales(database: Database, settings: Settings) -> int:
    """Each due auction closes in a transaction of its own (one that fails does not hold up the
    others; the next run tries it again). Closing is idempotent: a sale closed meanwhile by a reader
    of its page, or by another worker, is left as it is."""
    from qianshu.core.signing import load_signer
    from qianshu.finance import auction

    signer = load_signer(settings.key_dir)
    with database.unit_of_work(write=False) as db:
        due = auction.due_sales(db)
    closed = 0
    for sale_id in due:
        try:
            with database.unit_of_work() as db:
                auction.close_sale(db, settings, signer, sale_id)
            closed += 1
        except (QianshuError, IntegrityError, StaleDataError) as exc:
            log.warning("forced sale %s not closed: %s", sale_id, exc)
    return closed
