"""Messages that reach users only through variables, marked here for extraction.

Enumerated values are keys translated by message context (``NP_``): pages show them with
``{{ value|label("context") }}`` and messages with ``Label(context, value)``. ``N_`` marks the other
messages a page or message takes from a variable (field names, table labels, stored texts). Listing
them lets ``pybabel extract`` see them, so ``pybabel update`` keeps their entries; see
docs/architecture.md (Translations)."""

from __future__ import annotations

from qianshu.core.i18n import N_, NP_

LABELS = (
    NP_("audit action", "user.signed_in"),
    NP_("audit action", "user.invited"),
    NP_("audit action", "user.joined"),
    NP_("audit action", "user.removed"),
    NP_("audit action", "user.staff_created"),
    NP_("audit action", "token.created"),
    NP_("audit action", "token.revoked"),
    NP_("audit action", "organisation.applied"),
    NP_("audit action", "organisation.approved"),
    NP_("audit action", "organisation.rejected"),
    NP_("audit action", "organisation.suspended"),
    NP_("organisation status", "pending"),
    NP_("organisation status", "approved"),
    NP_("organisation status", "rejected"),
    NP_("organisation status", "suspended"),
    NP_("role", "admin"),
    NP_("role", "member"),
    NP_("role", "monitoring_admin"),
    NP_("role", "operator"),
    NP_("role", "reviewer"),
    NP_("role", "auditor"),
    NP_("organisation type", "data_merchant"),
    NP_("organisation type", "buyer"),
    NP_("organisation type", "service_provider"),
    NP_("organisation type", "bank"),
    NP_("organisation type", "government"),
    NP_("organisation type", "exchange_operator"),
    NP_("organisation type", "voucher_administrator"),
    NP_("organisation type", "compute_provider"),
    NP_("organisation type", "data_bureau"),
    NP_("token scope", "read"),
    NP_("token scope", "write"),
)
MESSAGES = (
    N_("The e-mail address or password is wrong."),
    N_("Data merchant"),
    N_("Buyer"),
    N_("Service provider"),
    N_("Bank"),
    N_("Government department"),
    N_("Exchange operator"),
    N_("admin"),
    N_("member"),
    N_("monitoring_admin"),
    N_("operator"),
    N_("reviewer"),
    N_("auditor"),
    N_("pending"),
    N_("approved"),
    N_("rejected"),
    N_("suspended"),
    N_("{total} events"),
    N_("uscc"),
    N_("division_code"),
    N_("name"),
    N_("name_en"),
    N_("org_type"),
    N_("contact_name"),
    N_("contact_email"),
    N_("contact_phone"),
    N_("admin_name"),
    N_("admin_email"),
    N_("password"),
    N_("reason"),
    N_("email"),
    N_("display_name"),
    N_("decision"),
    N_("staff_role"),
)
