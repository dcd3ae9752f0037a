"""Messages that reach users only through variables, marked here for extraction (see catalog/labels.py)."""

from __future__ import annotations

from qianshu.core.i18n import N_, NP_

LABELS = (
    NP_("account kind", "wallet"),
    NP_("account kind", "escrow"),
    NP_("account kind", "fees"),
    NP_("account kind", "bank_clearing"),
    NP_("transfer kind", "deposit"),
    NP_("transfer kind", "withdrawal"),
    # what a transfer is linked to (its cause_type): the capabilities that move money name them
    NP_("transfer cause", "bank_transfer"),
    NP_("transfer cause", "contract"),
    NP_("audit action", "ledger.deposited"),
    NP_("audit action", "ledger.withdrawn"),
    N_("Wallet"),
    N_("Books"),
)
