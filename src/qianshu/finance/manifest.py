"""Data-asset financing: pledges over certified assets and the lookup of a certificate's standing."""

from qianshu.core.capability import Manifest, NavItem, Subscription
from qianshu.core.policy import allows

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
         NavItem("/finance/valuations", "Valuations", lambda a: allows(a, "finance.valuation.prepare"), order=61)),
    # A pledged asset's registration is not revoked, cancelled or transferred: refused in the
    # revocation's own transaction (after catalogue's delisting, which the refusal undoes too).
    subscriptions={"registration.revoked": Subscription("qianshu.finance.hooks:on_registration_revoked",
                                                        in_transaction=True),
                   # a change or renewal of a pledged asset is told to its banks (after commit)
                   "registration.superseded": "qianshu.finance.hooks:on_registration_superseded"},
    demo="qianshu.demo.finance_seed:seed",
)
