"""Finance's periodic task: close the forced sales' auctions whose closing time has passed."""

from __future__ import annotations

from qianshu.core.db import Database
from qianshu.core.jobs import each_in_its_own_transaction
from qianshu.core.settings import Settings


def close_sales(database: Database, settings: Settings) -> int:
    """Each due auction closes in a transaction of its own (the next run tries a failed one again).
    Closing is idempotent: a sale closed meanwhile by a reader of its page, or by another worker,
    is left as it is."""
    from qianshu.core.signing import load_signer
    from qianshu.finance import auction

    signer = load_signer(settings.key_dir)
    with database.unit_of_work(write=False) as db:
        due = auction.due_sales(db)
    return each_in_its_own_transaction(
        database, due, lambda db, sale_id: auction.close_sale(db, settings, signer, sale_id), "forced sale")
