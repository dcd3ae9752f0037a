"""The ledger: double-entry books in integer fen, statements, trial balance and fee report."""

from qianshu.core.capability import Manifest, Periodic

MANIFEST = Manifest(
    name="ledger",
    title="Ledger",
    models=True,
    translations=True,
    actions="qianshu.ledger.permissions:ACTIONS",
    settings="qianshu.ledger.settings:LedgerSettings",
    periodic={"ledger.purge_idempotency_keys": Periodic(3600.0, "qianshu.ledger.jobs:purge_idempotency_keys")},
)
