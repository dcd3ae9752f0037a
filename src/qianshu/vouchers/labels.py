"""Messages that reach users only through variables, marked here for extraction (see
registry/labels.py)."""

from __future__ import annotations

from qianshu.core.i18n import N_, NP_

LABELS = (
    NP_("programme kind", "compute"), NP_("programme kind", "model"), NP_("programme kind", "data"),
    NP_("service kind", "training"), NP_("service kind", "fine_tuning"), NP_("service kind", "inference"),
    NP_("voucher purpose", "large_model_training"), NP_("voucher purpose", "industry_model_adaptation"),
    NP_("voucher purpose", "inference_service"), NP_("voucher purpose", "data_product"),
    NP_("company size", "micro"), NP_("company size", "small"), NP_("company size", "medium"),
    NP_("company size", "large"),
    NP_("application status", "pending"), NP_("application status", "approved"),
    NP_("application status", "rejected"),
    NP_("order status", "paid"), NP_("order status", "settled"),
    NP_("claim status", "pending"), NP_("claim status", "approved"), NP_("claim status", "rejected"),
    NP_("transfer kind", "voucher_budget"), NP_("transfer kind", "voucher_order"),
    NP_("transfer kind", "voucher_settlement"), NP_("transfer kind", "voucher_refund"),
    NP_("transfer kind", "voucher_reimbursement"), NP_("transfer kind", "voucher_subsidy"),
    NP_("transfer kind", "voucher_clawback"), NP_("transfer kind", "voucher_budget_return"),
    # what a voucher transfer is linked to (its cause_type), shown in wallet statements
    NP_("transfer cause", "voucher_order"), NP_("transfer cause", "voucher_programme"),
    NP_("audit action", "vouchers.contract.paid"), NP_("audit action", "vouchers.subsidy.returned"),
    NP_("audit action", "vouchers.programme.closed"),
    NP_("audit action", "vouchers.offering.published"), NP_("audit action", "vouchers.programme.created"),
    NP_("audit action", "vouchers.related_marked"), NP_("audit action", "vouchers.applied"),
    NP_("audit action", "vouchers.application.approved"), NP_("audit action", "vouchers.application.rejected"),
    NP_("audit action", "vouchers.order.paid"), NP_("audit action", "vouchers.order.settled"),
    NP_("audit action", "vouchers.reimbursement.claimed"), NP_("audit action", "vouchers.reimbursement.approved"),
    NP_("audit action", "vouchers.reimbursement.rejected"),
    NP_("log event", "vouchers.issued"), NP_("log event", "vouchers.redeemed"), NP_("log event", "vouchers.settled"),
    NP_("log event", "vouchers.reimbursed"), NP_("log event", "vouchers.subsidy_returned"),
    NP_("log event", "vouchers.programme_closed"),
    N_("Compute vouchers"), N_("My vouchers"),
    N_("A company applied for vouchers of {programme}."),
    N_("Your application to {programme} was rejected: {reason}"),
    N_("Your application to {programme} was approved: {count} voucher(s) issued."),
    N_("An order of {hours} card-hours was paid, {voucher} fen of it with vouchers."),
    N_("Order {order_id} settled on {hours} card-hours used; {refund} fen refunded."),
    N_("A provider claimed {amount} fen for order {order_id}."),
    N_("Your claim for order {order_id} was {status}."),
)
