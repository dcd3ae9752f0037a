"""Exchange signing keys: created once, kept private, and signatures that mean something."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from qianshu.core.canonical import canonical_json
from qianshu.core.signing import (
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
    Ed25519Signer,
    Signer,
    ensure_keys,
    key_id_of,
    load_public_key,
    load_signer,
    sign_document,
    verify_document,
)

DOCUMENT = {"certificate": "QS-2024-000123", "holder": "测试数据科技有限公司", "amount_fen": 123456,
            "items": [{"b": 1, "a": "二"}]}


@pytest.fixture
def signer(tmp_path: Path) -> Ed25519Signer:
    return load_signer(tmp_path / "keys")


def test_keys_are_created_once_and_never_overwritten(tmp_path: Path) -> None:
    key_dir = tmp_path / "data" / "keys"
    private = ensure_keys(key_dir)
    assert private == key_dir / PRIVATE_KEY_FILE
    first_private, first_public = private.read_bytes(), (key_dir / PUBLIC_KEY_FILE).read_bytes()
    first_id = load_signer(key_dir).key_id

    assert ensure_keys(key_dir) == private
    assert load_signer(key_dir).key_id == first_id
    assert private.read_bytes() == first_private
    assert (key_dir / PUBLIC_KEY_FILE).read_bytes() == first_public
    assert sorted(p.name for p in key_dir.iterdir()) == sorted([PRIVATE_KEY_FILE, PUBLIC_KEY_FILE])


def test_private_key_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    old = os.umask(0)  # even with a permissive umask
    try:
        private = ensure_keys(tmp_path / "keys")
    finally:
        os.umask(old)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_key_files_are_pkcs8_and_spki_pem_of_one_pair(signer: Ed25519Signer, tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    private_pem = (key_dir / PRIVATE_KEY_FILE).read_bytes()
    public_pem = (key_dir / PUBLIC_KEY_FILE).read_bytes()
    assert private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert public_pem == signer.public_key_pem()
    public = load_public_key(public_pem)
    assert key_id_of(public) == signer.key_id
    assert len(signer.key_id) == 16
    assert all(c in "0123456789abcdef" for c in signer.key_id)


def test_signer_satisfies_the_protocol(signer: Ed25519Signer) -> None:
    as_protocol: Signer = signer
    assert as_protocol.algorithm == "Ed25519"


def test_signature_verifies_and_is_over_canonical_json(signer: Ed25519Signer) -> None:
    signature = sign_document(signer, DOCUMENT)
    raw = base64.b64decode(signature, validate=True)
    assert len(raw) == 64
    signer.public_key().verify(raw, canonical_json(DOCUMENT))  # raises if not over the JCS bytes
    assert verify_document(signer.public_key(), DOCUMENT, signature)


def test_key_order_and_a_json_round_trip_do_not_break_verification(signer: Ed25519Signer) -> None:
    signature = sign_document(signer, DOCUMENT)
    reordered = dict(reversed(list(DOCUMENT.items())))
    assert verify_document(signer.public_key(), reordered, signature)
    assert verify_document(signer.public_key(), json.loads(json.dumps(DOCUMENT, indent=2)), signature)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.update(amount_fen=123457),
        lambda d: d.update(holder="测试数据科技有限公司 "),
        lambda d: d.update(extra=None),
        lambda d: d.pop("certificate"),
        lambda d: d["items"][0].update(a="三"),
        lambda d: d.update(amount_fen="123456"),
    ],
    ids=["amount", "trailing-space", "added-key", "removed-key", "nested", "type-change"],
)
def test_a_tampered_document_fails(signer: Ed25519Signer, tamper) -> None:  # type: ignore[no-untyped-def]
    signature = sign_document(signer, DOCUMENT)
    tampered = json.loads(json.dumps(DOCUMENT))
    tamper(tampered)
    assert not verify_document(signer.public_key(), tampered, signature)


def test_another_key_fails(signer: Ed25519Signer, tmp_path: Path) -> None:
    other = load_signer(tmp_path / "other-keys")
    assert other.key_id != signer.key_id
    assert not verify_document(other.public_key(), DOCUMENT, sign_document(signer, DOCUMENT))


@pytest.mark.parametrize("signature", ["", "not base64!!", "签名", "AAAA", "====",
                                       base64.b64encode(b"\x00" * 64).decode()])
def test_malformed_or_wrong_signatures_fail_without_raising(signer: Ed25519Signer, signature: str) -> None:
    assert not verify_document(signer.public_key(), DOCUMENT, signature)


def test_a_truncated_or_padded_signature_fails(signer: Ed25519Signer) -> None:
    raw = base64.b64decode(sign_document(signer, DOCUMENT))
    for bad in (raw[:-1], raw + b"\x00", bytes([raw[0] ^ 1]) + raw[1:]):
        assert not verify_document(signer.public_key(), DOCUMENT, base64.b64encode(bad).decode())


def test_a_signature_with_embedded_whitespace_is_refused(signer: Ed25519Signer) -> None:
    signature = sign_document(signer, DOCUMENT)
    assert not verify_document(signer.public_key(), DOCUMENT, signature[:20] + "\n" + signature[20:])


def test_non_ed25519_keys_are_refused(tmp_path: Path) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pub = ec_key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValueError, match="Ed25519"):
        load_public_key(pub)
    key_dir = tmp_path / "keys"
    key_dir.mkdir()
    (key_dir / PRIVATE_KEY_FILE).write_bytes(ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(RuntimeError, match="not an Ed25519 key"):
        load_signer(key_dir)


def test_a_large_integral_float_survives_a_json_round_trip(signer: Ed25519Signer) -> None:
    document = {"n": 1e20}
    signature = sign_document(signer, document)
    assert verify_document(signer.public_key(), json.loads(canonical_json(document)), signature)
