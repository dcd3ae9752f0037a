"""Online verification of a certificate: signature, current status and public-log inclusion."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.registry.certificate import verify_certificate
from qianshu.registry.models import Certificate


@dataclass
class OnlineVerification:
    valid: bool
    number: str
    reason: str
    status: str  # valid | revoked | unknown | invalid
    revocation_reason: str = ""
    log_index: int | None = None
    leaf_hash: str = ""
    tree_size: int | None = None
    inclusion_proof: list[str] = field(default_factory=list)
    document: dict[str, Any] = field(default_factory=dict)


def verify_online(db: Session, public_key: Ed25519PublicKey, data: dict[str, Any]) -> OnlineVerification:
    offline = verify_certificate(data, public_key)
    if not offline.valid:
        return OnlineVerification(False, offline.number, offline.reason, "invalid", document=offline.document)
    cert = db.scalar(select(Certificate).where(Certificate.number == offline.number))
    if cert is None or cert.document != offline.document:
        return OnlineVerification(False, offline.number, "The exchange has no record of this certificate.",
                                  "unknown", document=offline.document)
    result = OnlineVerification(cert.revoked_at is None, offline.number,
                                "The signature is valid." if cert.revoked_at is None else
                                "The certificate has been revoked.",
                                "valid" if cert.revoked_at is None else "revoked", cert.revocation_reason,
                                cert.log_index, cert.leaf_hash, document=offline.document)
    _attach_proof(db, result)
    return result


def _attach_proof(db: Session, result: OnlineVerification) -> None:
    """The inclusion proof of the issue leaf in the latest signed tree head, when there is one."""
    if result.log_index is None:
        return
    try:
        from qianshu.translog.service import inclusion_proof, latest_tree_head
    except ImportError:  # the public log is optional for verification
        return
    head = latest_tree_head(db)
    if head is None or head.tree_size <= result.log_index:
        return
    result.tree_size = head.tree_size
    result.inclusion_proof = [base64.b64encode(h).decode("ascii")
                              for h in inclusion_proof(db, result.log_index, head.tree_size)]
