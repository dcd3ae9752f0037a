"""The exchange: orders, quotes, contracts and their signatures, amendments and terminations;
escrow, settlement, refunds and disputes on the ledger's books."""

from typing import Any

from qianshu.core.capability import MENU_MINE, JobKind, Manifest, NavItem, Periodic
from qianshu.core.policy import allows


def _trader(actor: Any) -> bool:
    return actor is not None and actor.user_id is not None and actor.org_id is not None and allows(
        actor, "exchange.mine")


MANIFEST = Manifest(
    name="exchange",
    title="Exchange",
    uses=("catalog", "ledger"),
    models=True,
    api=True,
    pages=True,
    home=True,
    cli=True,
    templates=True,
    translations=True,
    actions="qianshu.exchange.permissions:ACTIONS",
    settings="qianshu.exchange.settings:ExchangeSettings",
    nav=(NavItem("/exchange/trades", "My trades", _trader, order=32, menu=MENU_MINE),
         NavItem("/exchange/bills", "Usage bills", _trader, order=33, menu=MENU_MINE),
         NavItem("/statistics", "Statistics", order=70)),
    events=("qianshu.exchange.events:ContractActivated", "qianshu.exchange.events:ContractEnded",
            "qianshu.exchange.events:ContractRefunded"),
    # Quotes past their expiry and contracts past their term are closed (access already ends at the
    # moment itself: contract_is_active reads the time).
    periodic={"exchange.expire_due": Periodic(300.0, "qianshu.exchange.jobs:expire_due"),
              "exchange.auto_accept": Periodic(600.0, "qianshu.exchange.jobs:auto_accept_deliveries"),
              "exchange.renew": Periodic(600.0, "qianshu.exchange.jobs:renew_subscriptions"),
              "exchange.bill_usage": Periodic(600.0, "qianshu.exchange.jobs:bill_usage"),
              # each product's count of sales (its popularity), off the settlements' path
              "exchange.count_sales": Periodic(60.0, "qianshu.exchange.jobs:count_sales"),
              "exchange.escalate_refunds": Periodic(3600.0, "qianshu.exchange.jobs:escalate_refund_requests")},
    # The demo's two years of trading history, made after its portal is up (one at a time).
    jobs={"exchange.demo_history": JobKind("qianshu.demo.exchange_history:run_history_job", concurrency=1)},
    demo="qianshu.demo.exchange_seed:seed",
)
