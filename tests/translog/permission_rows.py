"""The public log is public: every role may read heads, leaves and proofs."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from qianshu.core.signing import Ed25519Signer
from qianshu.translog import service
from tests.permission_support import EVERYONE, Row

ROWS = {
    ("GET", "/api/v1/log/sth"): Row(EVERYONE, action="log.read"),
    ("GET", "/api/v1/log/public-key"): Row(EVERYONE, action="log.read"),
    ("GET", "/api/v1/log/public-key.pem"): Row(EVERYONE, action="log.read"),
    ("GET", "/api/v1/log/leaves/{index}"): Row(EVERYONE, params=lambda c: {"index": 0}, action="log.read"),
    ("GET", "/api/v1/log/leaves"): Row(EVERYONE, query="?start=0&end=1", action="log.read"),
    ("GET", "/api/v1/log/proof/inclusion"): Row(EVERYONE, query="?index=0&tree_size=1", action="log.read"),
    ("GET", "/api/v1/log/proof/consistency"): Row(EVERYONE, query="?first=1&second=1", action="log.read"),
    ("GET", "/log"): Row(EVERYONE, action="log.read"),
    ("GET", "/log/leaves/{index}"): Row(EVERYONE, params=lambda c: {"index": 0}, action="log.read"),
}


def setup(ctx: dict[str, Any], db: Any, make: Any, actor: Any, env: dict[str, Any]) -> None:
    if service.tree_size(db) == 0:
        service.append_event(db, "registration.issued", {"number": "QS-DR-2026-000001"})
        service.sign_tree_head(db, Ed25519Signer(Ed25519PrivateKey.generate()))
