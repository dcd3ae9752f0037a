"""Appends, proofs and signed tree heads on the real database, checked by the reference."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core.errors import InvalidInput, NotFound
from qianshu.core.signing import Ed25519Signer
from qianshu.translog import service
from qianshu.translog.models import LogEntry, LogTile
from tests.translog import rfc9162_reference as ref


@pytest.fixture
def signer() -> Ed25519Signer:
    return Ed25519Signer(Ed25519PrivateKey.generate())


def _fill(db: Session, n: int) -> list[bytes]:
    service.append_events(db, [("registration.issued", {"number": f"QS-{i}"}) for i in range(n)])
    return [bytes(leaf) for leaf in db.scalars(select(LogEntry.leaf).order_by(LogEntry.index))]


def test_append_event_writes_canonical_leaf(db: Session) -> None:
    at = datetime(2026, 11, 22, 8, 30, tzinfo=UTC)
    entry = service.append_event(db, "registration.issued", {"number": "QS-1", "holder": "贵州"}, at=at)
    assert entry.index == 0
    assert entry.leaf == ('{"at":"2026-11-22T08:30:00.000000Z","payload":{"holder":"贵州","number":"QS-1"},'
                          '"type":"registration.issued"}').encode()
    assert entry.leaf_hash == ref.leaf_hash(entry.leaf).hex()
    assert entry.document["payload"]["number"] == "QS-1"
    assert entry.event_type == "registration.issued"
    second = service.append_event(db, "registration.revoked", {"number": "QS-1"})
    assert second.index == 1
    assert service.tree_size(db) == 2


def test_batch_and_single_appends_interleave(db: Session) -> None:
    service.append_event(db, "registration.issued", {"n": 0})
    entries = service.append_events(db, [("registration.amended", {"n": i}) for i in range(1, 300)])
    assert [e.index for e in entries] == list(range(1, 300))
    last = service.append_event(db, "registration.transferred", {"n": 300})
    assert last.index == 300
    leaves = [bytes(x) for x in db.scalars(select(LogEntry.leaf).order_by(LogEntry.index))]
    assert service.root_hash(db, 301) == ref.mth(leaves)
    assert service.append_events(db, []) == []


@pytest.mark.parametrize("n", [1, 2, 3, 7, 255, 256, 257, 513])
def test_roots_and_proofs_verify_with_the_reference(db: Session, n: int) -> None:
    leaves = _fill(db, n)
    for size in sorted({1, n // 2 or 1, n - 1 or 1, n}):
        root = service.root_hash(db, size)
        assert root == ref.mth(leaves[:size])
        for m in sorted({0, size // 3, size - 1}):
            proof = service.inclusion_proof(db, m, size)
            assert proof == ref.path(m, leaves[:size])
            assert ref.verify_inclusion(m, size, ref.leaf_hash(leaves[m]), proof, root)
        for first in sorted({1, size // 2 or 1, size - 1 or 1}):
            if first < size:
                cproof = service.consistency_proof(db, first, size)
                assert ref.verify_consistency(first, size, ref.mth(leaves[:first]), root, cproof)


@pytest.mark.slow
def test_proofs_across_higher_tile_levels(db: Session) -> None:
    """70,000 leaves: level-8 nodes live in tile level 1; check proofs reach across it."""
    n = 70_000
    service.append_events(db, [("registration.issued", {"i": i}) for i in range(40_000)])
    service.append_events(db, [("registration.issued", {"i": i}) for i in range(40_000, n)])
    hashes = [bytes(h) for h in db.scalars(select(LogEntry.hash).order_by(LogEntry.index))]
    from qianshu.translog.merkle import root_of_leaves

    for size in (65_535, 65_536, 65_537, n):
        root = service.root_hash(db, size)
        assert root == root_of_leaves(hashes[:size])
        for m in (0, 255, 256, 65_535, size - 1):
            if m < size:
                assert ref.verify_inclusion(m, size, hashes[m], service.inclusion_proof(db, m, size), root)
        for first in (1, 256, 65_536, size - 1):
            if first < size:
                assert ref.verify_consistency(first, size, root_of_leaves(hashes[:first]), root,
                                              service.consistency_proof(db, first, size))
    assert db.scalar(select(func.count()).select_from(LogTile).where(LogTile.level == 1)) == 2


def test_proofs_read_few_rows(db: Session) -> None:
    from sqlalchemy import event

    _fill(db, 600)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        service.inclusion_proof(db, 17, 600)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) <= 3  # size, then one read of the tiles


def test_find_and_get_leaf(db: Session) -> None:
    entry = service.append_event(db, "registration.issued", {"n": 1})
    found = service.find_leaf_by_hash(db, bytes.fromhex(entry.leaf_hash))
    assert found is not None
    assert found.index == 0
    assert service.find_leaf_by_hash(db, b"\x00" * 32) is None
    assert service.get_leaf(db, 0).leaf == entry.leaf
    with pytest.raises(NotFound):
        service.get_leaf(db, 1)
    with pytest.raises(NotFound):
        service.get_leaf(db, 2**80)
    assert service.decode_hash(entry.leaf_hash) == bytes.fromhex(entry.leaf_hash)
    b64 = base64.b64encode(bytes.fromhex(entry.leaf_hash)).decode()
    assert service.decode_hash(b64) == bytes.fromhex(entry.leaf_hash)
    assert service.decode_hash(base64.urlsafe_b64encode(bytes.fromhex(entry.leaf_hash)).decode().rstrip("="))


@pytest.mark.parametrize("text", ["", "zz" * 32, "ab" * 31, "ab" * 33, "!" * 44, "YWJj", 12])
def test_malformed_hashes_are_invalid_input(db: Session, text: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.decode_hash(text)  # type: ignore[arg-type]
    assert caught.value.field == "leaf_hash"
    with pytest.raises(InvalidInput):
        service.find_leaf_by_hash(db, b"short")


@pytest.mark.parametrize(("call", "field"), [
    (lambda db: service.inclusion_proof(db, 0, 11), "tree_size"),
    (lambda db: service.inclusion_proof(db, 10, 10), "index"),
    (lambda db: service.inclusion_proof(db, -1, 10), "index"),
    (lambda db: service.inclusion_proof(db, 2**70, 10), "index"),
    (lambda db: service.inclusion_proof(db, 0, -5), "tree_size"),
    (lambda db: service.inclusion_proof(db, 0, 2**70), "tree_size"),
    (lambda db: service.inclusion_proof(db, True, 10), "index"),
    (lambda db: service.consistency_proof(db, 3, 11), "second"),
    (lambda db: service.consistency_proof(db, 6, 5), "first"),
    (lambda db: service.consistency_proof(db, -1, 5), "first"),
    (lambda db: service.root_hash(db, 12), "tree_size"),
    (lambda db: service.append_event(db, "Bad Type", {}), "event_type"),
    (lambda db: service.append_event(db, "", {}), "event_type"),
    (lambda db: service.append_event(db, "registration.issued", []), "payload"),  # type: ignore[arg-type]
    (lambda db: service.append_event(db, "registration.issued", {"x": object()}), "payload"),
    (lambda db: service.append_event(db, "registration.issued", {"x": float("nan")}), "payload"),
    (lambda db: service.append_event(db, "registration.issued", {}, at=datetime(2026, 1, 1)), "at"),
])
def test_bad_input_is_rejected_with_the_field(db: Session, call, field: str) -> None:  # type: ignore[no-untyped-def]
    _fill(db, 10)
    with pytest.raises(InvalidInput) as caught:
        call(db)
    assert caught.value.field == field
    assert service.tree_size(db) == 10  # nothing half-written


def test_equal_and_empty_consistency(db: Session) -> None:
    _fill(db, 5)
    assert service.consistency_proof(db, 5, 5) == []
    assert service.consistency_proof(db, 0, 5) == []
    assert service.root_hash(db, 0) == ref.mth([])


def test_signed_tree_heads(db: Session, signer: Ed25519Signer) -> None:
    empty = service.sign_tree_head(db, signer)
    assert empty.tree_size == 0
    assert empty.root_hash == ref.mth([])
    leaves = _fill(db, 9)
    sth = service.sign_tree_head(db, signer)
    assert sth.tree_size == 9
    assert sth.root_hash == ref.mth(leaves)
    assert sth.timestamp > empty.timestamp
    assert service.latest_tree_head(db) is sth
    doc = service.tree_head_document(sth)
    assert base64.b64decode(doc["root_hash"]) == sth.root_hash
    assert service.verify_tree_head(signer.public_key(), doc)
    other = Ed25519Signer(Ed25519PrivateKey.generate())
    assert not service.verify_tree_head(other.public_key(), doc)
    for forged in [{**doc, "tree_size": 10}, {**doc, "timestamp": doc["timestamp"] + 1},
                   {**doc, "root_hash": base64.b64encode(b"\x01" * 32).decode()},
                   {**doc, "signature": "not base64!"}, {**doc, "signature": base64.b64encode(b"x" * 64).decode()},
                   {**doc, "tree_size": "9"}, {**doc, "tree_size": True},
                   {k: v for k, v in doc.items() if k != "root_hash"},
                   {**doc, "root_hash": "AAAA"}, [], "sth", None]:
        assert not service.verify_tree_head(signer.public_key(), forged)


def test_find_leaf_by_hash_across_generations(db: Session) -> None:
    """The lookup key starts with the leaf's generation (index >> 18): every one is probed."""
    from sqlalchemy import text

    from qianshu.translog.merkle import leaf_hash
    from qianshu.translog.models import KEY_GENERATION_BITS, hash_key

    late = (5 << KEY_GENERATION_BITS) + 7
    rows = [(3, b"early"), (late, b"late"), (late + 1, b"early")]  # a leaf repeated later
    for index, leaf in rows:
        digest = leaf_hash(leaf)
        db.execute(text("INSERT INTO translog_leaves (leaf_index, hash, hash_key, leaf) VALUES (:i, :h, :k, :l)"),
                   {"i": index, "h": digest, "k": hash_key(index, digest), "l": leaf})
    found = service.find_leaf_by_hash(db, leaf_hash(b"late"))
    assert found is not None
    assert found.index == late
    again = service.find_leaf_by_hash(db, leaf_hash(b"early"))
    assert again is not None
    assert again.index == 3  # the earliest
    assert service.find_leaf_by_hash(db, leaf_hash(b"absent")) is None
