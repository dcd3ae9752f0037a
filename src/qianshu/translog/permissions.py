"""Who may do what with the public log: anyone may read it (core/policy.py)."""

from __future__ import annotations

from qianshu.core.policy import ANYONE, Action

ACTIONS = (
    Action("log.read", (ANYONE,), "Read tree heads, leaves, proofs and the log's public key"),
)
