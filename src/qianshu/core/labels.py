"""Messages that reach users only through variables, marked here for extraction.

Enumerated values are keys translated by message context (``NP_``): pages show them with
``{{ value|label("context") }}`` and messages with ``Label(context, value)``. ``N_`` marks the other
messages a page or message takes from a variable (field names, table labels, stored texts). Listing
them lets ``pybabel extract`` see them, so ``pybabel update`` keeps their entries; see
docs/architecture.md (Translations)."""

from __future__ import annotations

from qianshu.core.i18n import N_, NP_

LABELS = (
    NP_("job stage", "done"),
    NP_("job stage", "delivered"),
    NP_("actor via", "portal"),
    NP_("actor via", "api"),
    NP_("actor via", "cli"),
    NP_("actor via", "system"),
    NP_("actor via", "anonymous"),
    NP_("audit action", "job.retried"),
    NP_("job status", "queued"),
    NP_("job status", "running"),
    NP_("job status", "succeeded"),
    NP_("job status", "failed"),
    NP_("job kind", "registry.pipeline"),
)

MESSAGES = (
    N_("The request is invalid."),
    N_("must not be negative"),
    N_("Resident ID"),
    N_("Amount"),
    N_("{field} is invalid."),
    N_("Too many requests."),
    N_("The job stopped unexpectedly too many times."),
)
