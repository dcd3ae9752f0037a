"""Messages that reach users only through variables, marked here for extraction.

Enumerated values are keys translated by message context (``NP_``): pages show them with
``{{ value|label("context") }}`` and messages with ``Label(context, value)``. ``N_`` marks the other
messages a page or message takes from a variable (field names, table labels, stored texts). Listing
them lets ``pybabel extract`` see them, so ``pybabel update`` keeps their entries; see
docs/architecture.md (Translations)."""

from __future__ import annotations

from qianshu.core.i18n import N_

MESSAGES = (
    N_("Please sign in"),
    N_("Not allowed"),
    N_("Not found"),
    N_("Conflict"),
    N_("Too many requests"),
    N_("Something went wrong"),
    N_("Find data products by keyword, industry and region."),
    N_("Register data and receive a signed certificate."),
    N_("Check any certificate against the tamper-evident log."),
    N_("Organisations apply; the exchange reviews them."),
    N_("The server is busy; please try again in a moment."),
)
