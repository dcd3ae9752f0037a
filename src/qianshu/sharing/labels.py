"""Messages that reach users only through variables, marked here for extraction (see
registry/labels.py)."""

from __future__ import annotations

from qianshu.core.i18n import N_, NP_

LABELS = (
    NP_("sharing class", "unconditional"), NP_("sharing class", "conditional"), NP_("sharing class", "not_shared"),
    NP_("sharing request status", "pending"), NP_("sharing request status", "approved"),
    NP_("sharing request status", "narrowed"), NP_("sharing request status", "rejected"),
    NP_("sharing request status", "granted"),
    NP_("access type", "feed"), NP_("access type", "sandbox"),
    NP_("access kind", "download"), NP_("access kind", "query"),
    NP_("audit action", "sharing.resource.published"), NP_("audit action", "sharing.request.created"),
    NP_("audit action", "sharing.request.approved"), NP_("audit action", "sharing.request.narrowed"),
    NP_("audit action", "sharing.request.rejected"), NP_("audit action", "sharing.request.overdue"),
    NP_("audit action", "sharing.file.uploaded"), NP_("audit action", "sharing.access.download"),
    NP_("audit action", "sharing.access.query"),
    N_("Data sharing"),
    N_("The sharing request #{id} for {resource} passed its deadline of {due} without a decision."),
    N_("{requester} requested your resource {resource} (request #{id}); decide by {due}."),
    N_("Your request #{id} for {resource} was {decision}."),
)
