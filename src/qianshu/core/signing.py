"""Signing keys of the exchange: Ed25519 over RFC 8785 canonical JSON.

``Signer`` is a Protocol so an SM2 signer (GM/T 0003, for deployments that must use Chinese
national algorithms) can be added beside Ed25519 and chosen by settings. Keys live in the
data folder's ``keys/`` as PKCS#8 PEM (private, mode 0600) and SubjectPublicKeyInfo PEM.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from qianshu.core.canonical import canonical_json
from qianshu.core.keyfiles import PRIVATE_KEY_FILE as PRIVATE_KEY_FILE
from qianshu.core.keyfiles import PUBLIC_KEY_FILE as PUBLIC_KEY_FILE


class Signer(Protocol):
    algorithm: str
    key_id: str

    def sign(self, message: bytes) -> bytes: ...

    def public_key_pem(self) -> bytes: ...


class Ed25519Signer:
    algorithm = "Ed25519"

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.key_id = key_id_of(private_key.public_key())

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def public_key_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, hex, first 16 characters: short enough to print."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def ensure_keys(key_dir: Path) -> Path:
    """Create the exchange key pair once; never overwrite an existing key."""
    key_dir.mkdir(parents=True, exist_ok=True)
    private_path = key_dir / PRIVATE_KEY_FILE
    if not private_path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = private_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        os.replace(tmp, private_path)
        (key_dir / PUBLIC_KEY_FILE).write_bytes(Ed25519Signer(key).public_key_pem())
    return private_path


def load_signer(key_dir: Path) -> Ed25519Signer:
    private_path = ensure_keys(key_dir)
    key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError(f"{private_path} is not an Ed25519 key")
    return Ed25519Signer(key)


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def sign_document(signer: Signer, document: dict[str, Any]) -> str:
    """Base64 signature over the canonical JSON of ``document``."""
    return base64.b64encode(signer.sign(canonical_json(document))).decode("ascii")


def verify_document(public_key: Ed25519PublicKey, document: dict[str, Any], signature_b64: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), canonical_json(document))
    except (InvalidSignature, ValueError):
        return False
    return True
