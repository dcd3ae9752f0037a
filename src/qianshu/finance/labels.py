"""Messages that reach users only through variables, marked here for extraction (see
registry/labels.py)."""

from __future__ import annotations

from qianshu.core.i18n import N_, NN_, NP_

LABELS = (
    NP_("pledge status", "pending"), NP_("pledge status", "active"), NP_("pledge status", "released"),
    NP_("pledge status", "enforced"),
    NP_("pledge event", "registered"), NP_("pledge event", "confirmed"), NP_("pledge event", "amended"),
    NP_("pledge event", "released"), NP_("pledge event", "enforced"),
    # the ledger's wallet statement names what a transfer belongs to: bids and the sale's settlement
    NP_("transfer cause", "forced_sale"),
    NP_("certificate standing", "valid"), NP_("certificate standing", "revoked"),
    NP_("certificate standing", "expired"), NP_("certificate standing", "transferred"),
    NP_("certificate standing", "superseded"), NP_("certificate standing", "cancelled"),
    NP_("value source", "entered"), NP_("value source", "valuation"),
    NP_("valuation status", "draft"), NP_("valuation status", "signed"),
    NP_("valuation approach", "cost"), NP_("valuation approach", "income"), NP_("valuation approach", "market"),
    NP_("audit action", "finance.valuation.started"), NP_("audit action", "finance.valuation.signed"),
    NP_("log event", "finance.valuation.signed"),
    N_("Valuations"),
    # the worksheet's steps (worksheet.py)
    N_("Replacement cost"), N_("Adjusted for quality"), N_("Less obsolescence"), N_("Year {year}"),
    N_("Present value"), N_("Comparable {number}"), N_("Mean of adjusted comparables"),  # worksheets of before
    N_("Comparable licence {number}"), N_("Adjusted price of one licence"), N_("Licence income per year"),
    N_("Capitalised over the economic life"),
    N_("An appraiser signed a valuation of your certificate {number}."),
    N_("An amendment of the pledge over {number} awaits your agreement."),
    N_("The amendment of the pledge over {number} was agreed."),
    N_("The latest signed valuation of {number} ({value} yuan) puts the loan-to-value of its open pledges "
       "at {ltv} %, above your limit of {limit} %."),
    NP_("audit action", "finance.ltv_limit_set"), NP_("audit action", "finance.pledge.registered"),
    NP_("audit action", "finance.pledge.confirmed"), NP_("audit action", "finance.pledge.amended"),
    NP_("audit action", "finance.pledge.released"), NP_("audit action", "finance.pledge.enforced"),
    NP_("log event", "finance.pledge.registered"), NP_("log event", "finance.pledge.confirmed"),
    NP_("log event", "finance.pledge.amended"), NP_("log event", "finance.pledge.released"),
    NP_("log event", "finance.pledge.enforced"),
    N_("Pledge portfolio"),
    N_("The registration of {number}, which you hold a pledge on, was replaced ({kind}): {successor}."),
    N_("A bank registered a pledge over your certificate {number}; please confirm it."),
    N_("The holder confirmed the pledge over {number}."),
    N_("The pledge over {number} was amended by the bank."),
    N_("The pledge over {number} was released."),
    N_("The bank recorded the enforcement of its pledge over {number}."),
    N_("Someone tried to revoke or transfer the registration of {number}, which you hold a pledge on "
       "({reason}); it was refused."),
    # forced sales (sale.py) and the accounting pack (accounting.py)
    NP_("pledge status", "selling"), NP_("pledge event", "sale_listed"), NP_("log event", "finance.pledge.sale_listed"),
    NP_("audit action", "finance.pledge.sale_listed"), NP_("sale status", "listed"), NP_("sale status", "sold"),
    NP_("pledge event", "sale_withdrawn"), NP_("log event", "finance.pledge.sale_withdrawn"),
    NP_("audit action", "finance.pledge.sale_withdrawn"), NP_("sale status", "withdrawn"),
    NP_("sale status", "unsold"), NP_("pledge event", "bid_placed"), NP_("log event", "finance.pledge.bid_placed"),
    NP_("audit action", "finance.pledge.bid_placed"), NP_("pledge event", "sale_unsold"),
    NP_("log event", "finance.pledge.sale_unsold"), NP_("audit action", "finance.pledge.sale_unsold"),
    NP_("bid status", "leading"), NP_("bid status", "outbid"), NP_("bid status", "won"),
    NP_("audit action", "finance.accounting.cost_added"), NP_("audit action", "finance.accounting.cost_removed"),
    NP_("audit action", "finance.accounting.choice_set"),
    NP_("accounting class", "intangible"), NP_("accounting class", "inventory"),
    NP_("accounting class", "not_recognised"),
    NP_("acquisition method", "purchased"), NP_("acquisition method", "self_developed"),
    NP_("acquisition method", "other"), NP_("acquisition method", "total"),
    NP_("cost category", "acquisition"), NP_("cost category", "collection"), NP_("cost category", "processing"),
    NP_("cost category", "storage"), NP_("cost category", "labour"), NP_("cost category", "rights"),
    NP_("cost category", "quality"), NP_("cost category", "registration"), NP_("cost category", "appraisal"),
    NP_("cost category", "other"), NP_("cost category", "exchange_fee"),
    NP_("cost source", "entered"), NP_("cost source", "ledger"),
    NP_("accounting intent", "own_use"), NP_("accounting intent", "for_sale"),
    N_("Data resources accounting"), N_("Forced sales"), N_("Disclosure"), N_("Assets"), N_("Costs"),
    N_("yes"), N_("no"), N_("None"), N_("As of {day}"), NN_("{n} asset", "{n} assets"),
    N_("Pledged to {bank} for {secured} yuan until {matures}"),
)
