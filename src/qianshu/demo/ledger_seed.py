"""Demo wallets: the approved demo organisations' deposits, recorded by the demo operator
through the ledger's service as an operator would in the portal, with bank references."""

from __future__ import annotations

from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.demo.registrations import actor_of
from qianshu.ledger import service

# (organisation key, yuan deposited, yuan withdrawn afterwards)
WALLETS = (
    ("buyer_logistics", 500_000, 0),
    ("bank", 2_000_000, 0),
    ("government", 300_000, 0),
    ("service_provider", 20_000, 5_000),
    ("merchant_traffic", 50_000, 10_000),
    ("merchant_weather", 30_000, 0),
    ("merchant_health", 80_000, 0),
)


def seed(database: Database, settings: Settings, org_ids: dict[str, int]) -> None:
    with database.unit_of_work() as db:
        operator = actor_of(db, "operator@qianshu.demo")
        for n, (key, deposited, withdrawn) in enumerate(WALLETS, start=1):
            org_id = org_ids[key]
            service.deposit(db, operator, org_id=org_id, amount_fen=deposited * 100,
                            bank_reference=f"2026-11-{n:05d}", memo="开户入金")
            if withdrawn:
                service.withdraw(db, operator, org_id=org_id, amount_fen=withdrawn * 100,
                                 bank_reference=f"2026-11-9{n:04d}", memo="提现")
