"""Compute vouchers (算力券): providers' offerings, voucher programmes, applications and issuance,
orders paid partly with vouchers, settlement on metered usage, reimbursement, and dashboards."""

from typing import Any

from qianshu.core.capability import MENU_MINE, Manifest, NavItem, Periodic, Subscription
from qianshu.core.policy import allows


def _member(actor: Any) -> bool:
    return actor is not None and actor.org_id is not None and allows(actor, "vouchers.mine")


MANIFEST = Manifest(
    name="vouchers",
    title="Compute vouchers",
    uses=("ledger", "translog", "exchange"),
    models=True,
    api=True,
    pages=True,
    templates=True,
    static=True,  # vouchers.js: the data-voucher payment form's figures follow the ticks; org_picker.js
    cli=True,
    translations=True,
    actions="qianshu.vouchers.permissions:ACTIONS",
    settings="qianshu.vouchers.settings:VouchersSettings",
    nav=(NavItem("/vouchers", "Compute vouchers", order=65),
         NavItem("/vouchers/mine", "My vouchers", _member, order=66, menu=MENU_MINE)),
    # Expired vouchers' unspent value goes back to their programme's budget.
    # An ended programme's unspent budget goes back to its administrator's wallet (closing.py).
    periodic={"vouchers.lapse_expired": Periodic(3600.0, "qianshu.vouchers.jobs:lapse_expired"),
              "vouchers.close_ended": Periodic(3600.0, "qianshu.vouchers.jobs:close_ended")},
    # A refund of a contract a data voucher subsidised returns the subsidy's share to the programme,
    # in the refund's transaction (a seller who cannot pay back a paid subsidy refuses the refund).
    subscriptions={"exchange.contract_refunded": Subscription("qianshu.vouchers.data_vouchers:on_contract_refunded",
                                                              in_transaction=True)},
    demo="qianshu.demo.vouchers_seed:seed",
    # The buyer pays an exchange contract with data vouchers from the contract page (contract_pages.py).
    contract_panel="qianshu.vouchers.contract_pages:contract_panel",
)
