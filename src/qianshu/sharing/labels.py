"""Messages that reach users only through variables, marked here for extraction (see
registry/labels.py)."""

from __future__ import annotations

from qianshu.core.i18n import N_, NP_

LABELS = (
    NP_("sharing class", "unconditional"), NP_("sharing class", "conditional"), NP_("sharing class", "not_shared"),
    NP_("sharing request status", "pending"), NP_("sharing request status", "approved"),
    NP_("sharing request status", "narrowed"), NP_("sharing request status", "rejected"),
    NP_("sharing request status", "granted"), NP_("sharing request status", "expired"),
    NP_("sharing request status", "revoked"),
    NP_("field type", "string"), NP_("field type", "integer"), NP_("field type", "decimal"),
    NP_("field type", "date"), NP_("field type", "boolean"), NP_("field type", "code"),
    NP_("access type", "feed"), NP_("access type", "sandbox"),
    NP_("access kind", "download"), NP_("access kind", "query"), NP_("access kind", "feed"),
    NP_("audit action", "sharing.resource.published"), NP_("audit action", "sharing.request.created"),
    NP_("audit action", "sharing.request.approved"), NP_("audit action", "sharing.request.narrowed"),
    NP_("audit action", "sharing.request.rejected"), NP_("audit action", "sharing.request.overdue"),
    NP_("audit action", "sharing.file.uploaded"), NP_("audit action", "sharing.access.download"),
    NP_("audit action", "sharing.access.query"), NP_("audit action", "sharing.grant.revoked"),
    NP_("audit action", "sharing.grant.expired"), NP_("audit action", "sharing.sandbox_policy.set"),
    NP_("sharing appeal status", "pending"), NP_("sharing appeal status", "upheld"),
    NP_("sharing appeal status", "granted"), NP_("sharing appeal status", "partly_granted"),
    NP_("sharing extension status", "pending"), NP_("sharing extension status", "approved"),
    NP_("sharing extension status", "refused"),
    NP_("audit action", "sharing.appeal.filed"), NP_("audit action", "sharing.appeal.upheld"),
    NP_("audit action", "sharing.appeal.granted"), NP_("audit action", "sharing.appeal.partly_granted"),
    NP_("audit action", "sharing.extension.asked"),
    NP_("audit action", "sharing.extension.approved"), NP_("audit action", "sharing.extension.refused"),
    NP_("sandbox aggregate", "count"), NP_("sandbox aggregate", "sum"), NP_("sandbox aggregate", "avg"),
    NP_("sandbox aggregate", "min"), NP_("sandbox aggregate", "max"), NP_("sandbox aggregate", "median"),
    NP_("sandbox aggregate", "stddev"),
    N_("Data sharing"),
    N_("The sharing request #{id} for {resource} passed its deadline of {due} without a decision."),
    N_("{requester} requested your resource {resource} (request #{id}); decide by {due}."),
    N_("Your request #{id} for {resource} was {decision}."),
    N_("Your grant #{id} for {resource} was revoked by its owner: {reason}"),
    N_("Your grant #{id} for {resource} ended on {day}; its feed and sandbox are closed."),
    N_("{requester} appealed the decision on sharing request #{id} for {resource}: {reason}"),
    N_("The appeal on sharing request #{id} for {resource} was decided: {decision}."),
    N_("{requester} asks to use grant #{id} for {resource} until {until}: {reason}"),
    N_("Your request to use grant #{id} for {resource} until {until} was {decision}."),
)
