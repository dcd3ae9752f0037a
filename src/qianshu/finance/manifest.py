"""Data-asset financing: pledges over certified assets and the lookup of a certificate's standing."""

from qianshu.core.capability import MENU_MINE, MENU_PUBLIC, Manifest, NavItem, Periodic, Subscription
from qianshu.core.policy import Resource, allows

MANIFEST = Manifest(
    name="finance",
    title="Data-asset financing",
    uses=("registry", "exchange"),
    models=True,
    api=True,
    pages=True,
    cli=True,
    templates=True,
    translations=True,
    actions="qianshu.finance.permissions:ACTIONS",
    settings="qianshu.finance.settings:FinanceSettings",
    nav=(NavItem("/finance/pledges", "Pledge portfolio", lambda a: allows(a, "finance.portfolio"), order=60),
         NavItem("/finance/valuations", "Valuations", lambda a: allows(a, "finance.valuation.prepare"), order=61),
         NavItem("/finance/accounting", "Data resources accounting",
                 lambda a: a is not None and a.org_id is not None
                 and allows(a, "finance.accounting", Resource(org_id=a.org_id)), order=62, menu=MENU_MINE),
         NavItem("/finance/sales", "Forced sales", order=63, menu=MENU_PUBLIC)),
    # A pledged asset's registration is not revoked, cancelled or transferred: refused in the
    # revocation's own transaction (after catalogue's delisting, which the refusal undoes too).
    subscriptions={"registration.revoked": Subscription("qianshu.finance.hooks:on_registration_revoked",
                                                        in_transaction=True),
                   # a change or renewal of a pledged asset is told to its banks (after commit)
                   "registration.superseded": "qianshu.finance.hooks:on_registration_superseded",
                   # an objection filed or decided against the asset's registration: its banks are told
                   "registration.challenged": "qianshu.finance.hooks:on_registration_challenged"},
    # the forced sales' auctions past their closing time close (their pages close them on read too)
    periodic={"finance.close_sales": Periodic(600.0, "qianshu.finance.jobs:close_sales")},
    # the catalogue's product page says when the product's asset is on forced sale, and links to it
    product_panel="qianshu.finance.sale_pages:product_panel",
    # the contract a forced sale becomes (exchange/transfers.py) links to the sale on its page
    contract_panel="qianshu.finance.sale_pages:contract_panel",
    # the certificate's page (where its QR code leads) says whether it is valid and encumbered
    certificate_panel="qianshu.finance.pages:certificate_panel",
    demo="qianshu.demo.finance_seed:seed",
)
