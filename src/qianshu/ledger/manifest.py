"""The ledger: double-entry books in integer fen, statements, trial balance and fee report."""

from typing import Any

from qianshu.core.capability import MENU_MINE, MENU_OPERATIONS, Manifest, NavItem, Periodic
from qianshu.core.policy import Resource, allows


def _own_wallet(actor: Any) -> bool:
    return (actor is not None and actor.org_id is not None and not actor.is_staff
            and allows(actor, "ledger.statement.read", Resource(org_id=actor.org_id)))


MANIFEST = Manifest(
    name="ledger",
    title="Ledger",
    models=True,
    api=True,
    pages=True,
    templates=True,
    translations=True,
    actions="qianshu.ledger.permissions:ACTIONS",
    settings="qianshu.ledger.settings:LedgerSettings",
    nav=(
        NavItem("/wallet", "Wallet", _own_wallet, order=40, menu=MENU_MINE),
        NavItem("/operator/books", "Books", lambda a: allows(a, "ledger.books.read"), order=89, menu=MENU_OPERATIONS),
    ),
    periodic={"ledger.purge_idempotency_keys": Periodic(3600.0, "qianshu.ledger.jobs:purge_idempotency_keys")},
    demo="qianshu.demo.ledger_seed:seed",
)
