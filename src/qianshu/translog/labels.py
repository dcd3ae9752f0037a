"""Messages that reach users only through variables, marked here for extraction.

Enumerated values are keys translated by message context (``NP_``): pages show them with
``{{ value|label("context") }}`` and messages with ``Label(context, value)``. ``N_`` marks the other
messages a page or message takes from a variable (field names, table labels, stored texts). Listing
them lets ``pybabel extract`` see them, so ``pybabel update`` keeps their entries; see
docs/architecture.md (Translations)."""

from __future__ import annotations

from qianshu.core.i18n import N_, NP_

LABELS = (
    NP_("log event", "registration.issued"),
    NP_("log event", "registration.amended"),
    NP_("log event", "registration.transferred"),
    NP_("log event", "registration.cancelled"),
    NP_("log event", "registration.revoked"),
)

MESSAGES = (
    N_("The log lost a leaf it had just written."),
    N_("The log's tiles do not match its size."),
    N_("The log is missing the hash of node {level}/{index}."),
    N_("tree_size"),
    N_("index"),
    N_("first"),
    N_("second"),
    N_("leaf_hash"),
    N_("event_type"),
    N_("payload"),
    N_("Leaf {index} was changed: its bytes no longer match its hash."),
    N_("Leaf {index} is missing: it was deleted after the fact."),
    N_("Leaf {index} was added without being entered in the tree."),
    N_(
        "Leaf {index} was rewritten, moved or inserted after the fact: it does not match the tree built when it was appended."  # noqa: E501
    ),
    N_("The tree's hashes over leaves from {index} are missing."),
    N_("The tree's hash over leaves {index} to {end} is damaged or a leaf in that range was rewritten."),
    N_("The signed tree head of size {size} has a bad signature."),
    N_("The log no longer matches its signed tree head of size {size}: a leaf from {start} to {end} was rewritten."),
    N_("The signed tree head of size {size} is beyond the log's {leaves} leaves: leaves were deleted from the end."),
    N_("The log holds tree hashes beyond its {leaves} leaves."),
)
