"""``verify_log`` names the first leaf that was edited, deleted, reordered or inserted."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from qianshu.core.signing import Ed25519Signer
from qianshu.translog import service
from qianshu.translog.merkle import leaf_hash
from qianshu.translog.models import LogEntry, LogTile, SignedTreeHead, hash_key
from qianshu.translog.verify import verify_log


@pytest.fixture
def signer() -> Ed25519Signer:
    return Ed25519Signer(Ed25519PrivateKey.generate())


def _log(db: Session, signer: Ed25519Signer, n: int = 600) -> None:
    service.append_events(db, [("registration.issued", {"number": f"QS-{i}"}) for i in range(n // 2)])
    service.sign_tree_head(db, signer)
    service.append_events(db, [("registration.issued", {"number": f"QS-{i}"}) for i in range(n // 2, n)])
    service.sign_tree_head(db, signer)


def _set_leaf(db: Session, index: int, leaf: bytes, *, with_hash: bool) -> None:
    values: dict[str, object] = {"leaf": leaf}
    if with_hash:
        values["hash"] = leaf_hash(leaf)
    db.execute(update(LogEntry).where(LogEntry.index == index).values(**values))


def test_an_untouched_log_verifies(db: Session, signer: Ed25519Signer) -> None:
    _log(db, signer)
    seen: list[tuple[int, int]] = []
    report = verify_log(db, signer.public_key(), progress=lambda done, total: seen.append((done, total)))
    assert report.ok, report.problems
    assert (report.tree_size, report.leaves_checked, report.heads_checked) == (600, 600, 2)
    assert seen[-1] == (600, 600)


def test_empty_log_verifies(db: Session, signer: Ed25519Signer) -> None:
    service.sign_tree_head(db, signer)
    assert verify_log(db, signer.public_key()).ok


def test_edited_leaf_is_named(db: Session, signer: Ed25519Signer) -> None:
    _log(db, signer)
    _set_leaf(db, 417, b'{"type":"registration.issued","payload":{"number":"FORGED"}}', with_hash=False)
    problem = verify_log(db, signer.public_key()).first_problem
    assert problem is not None
    assert (problem.kind, problem.leaf_index) == ("edited", 417)
    assert "417" in problem.render("en")
    assert "417" in problem.render("zh")


def test_leaf_rewritten_with_its_hash_is_named(db: Session, signer: Ed25519Signer) -> None:
    _log(db, signer)
    _set_leaf(db, 300, b'{"forged":true}', with_hash=True)
    problem = verify_log(db, signer.public_key()).first_problem
    assert problem is not None
    assert (problem.kind, problem.leaf_index) == ("reordered", 300)


def test_deleted_leaf_is_named(db: Session, signer: Ed25519Signer) -> None:
    _log(db, signer)
    db.execute(delete(LogEntry).where(LogEntry.index == 12))
    problem = verify_log(db, signer.public_key()).first_problem
    assert problem is not None
    assert (problem.kind, problem.leaf_index) == ("deleted", 12)


def test_leaves_deleted_from_the_end_are_caught(db: Session, signer: Ed25519Signer) -> None:
    _log(db, signer)
    db.execute(delete(LogEntry).where(LogEntry.index >= 590))
    problem = verify_log(db, signer.public_key()).first_problem
    assert problem is not None
    assert (problem.kind, problem.leaf_index) == ("deleted", 590)


def test_swapped_leaves_are_named(db: Session, signer: Ed25519Signer) -> None:
    _log(db, signer)
    a, b = (db.get(LogEntry, i) for i in (20, 21))
    assert a is not None
    assert b is not None
    leaf_a, leaf_b = a.leaf, b.leaf
    _set_leaf(db, 20, leaf_b, with_hash=True)
    _set_leaf(db, 21, leaf_a, with_hash=True)
    db.expire_all()
    problem = verify_log(db, signer.public_key()).first_problem
    assert problem is not None
    assert (problem.kind, problem.leaf_index) == ("reordered", 20)


def test_inserted_leaf_is_named(db: Session, signer: Ed25519Signer) -> None:
    _log(db, signer)
    for index in range(599, 99, -1):  # shift 100.. up by one, highest first (primary key)
        db.execute(update(LogEntry).where(LogEntry.index == index).values(index=index + 1))
    leaf = b'{"type":"registration.issued","payload":{"number":"BACKDATED"}}'
    db.execute(text("INSERT INTO translog_leaves (leaf_index, hash, hash_key, leaf) VALUES (100, :h, :k, :l)"),
               {"h": leaf_hash(leaf), "k": hash_key(100, leaf_hash(leaf)), "l": leaf})
    problem = verify_log(db, signer.public_key()).first_problem
    assert problem is not None
    assert (problem.kind, problem.leaf_index) == ("reordered", 100)


def test_damaged_interior_hash_is_caught(db: Session, signer: Ed25519Signer) -> None:
    _log(db, signer)
    tile = db.get(LogTile, (0, 1))
    assert tile is not None
    blob = bytearray(tile.hashes)
    blob[256 * 32 + 5] ^= 0xFF  # row 1 (level 1), node 0: leaves 256..257
    db.execute(update(LogTile).where(LogTile.level == 0, LogTile.index == 1).values(hashes=bytes(blob)))
    problem = verify_log(db, signer.public_key()).first_problem
    assert problem is not None
    assert (problem.kind, problem.leaf_index) == ("tile", 256)


def test_history_rewritten_everywhere_contradicts_the_signed_heads(db: Session, signer: Ed25519Signer) -> None:
    _log(db, signer)
    # Rebuild the whole log with leaf 450 changed: leaves, hashes and tiles all consistent.
    leaves = [bytes(x) for x in db.scalars(select(LogEntry.leaf).order_by(LogEntry.index))]
    db.execute(delete(LogEntry))
    db.execute(delete(LogTile))
    leaves[450] = leaves[450].replace(b"registration.issued", b"registration.revoked")
    service._append_leaves(db, leaves[:450])
    service._append_leaves(db, leaves[450:])
    report = verify_log(db, signer.public_key())
    problem = report.first_problem
    assert problem is not None
    assert problem.kind == "head_root"
    assert problem.leaf_index == 300
    assert "300" in problem.render("en")
    assert "599" in problem.render("en")
    assert report.heads_checked == 2  # the head at 300 still matched


def test_forged_head_signature_is_caught(db: Session, signer: Ed25519Signer) -> None:
    _log(db, signer)
    db.execute(update(SignedTreeHead).where(SignedTreeHead.tree_size == 300).values(timestamp=1))
    problem = verify_log(db, signer.public_key()).first_problem
    assert problem is not None
    assert problem.kind == "head_signature"


@pytest.mark.slow
def test_large_log_with_damage_in_a_high_tile(db: Session, signer: Ed25519Signer) -> None:
    service.append_events(db, [("registration.issued", {"i": i}) for i in range(70_000)])
    service.sign_tree_head(db, signer)
    assert verify_log(db, signer.public_key()).ok
    tile = db.get(LogTile, (1, 0))
    assert tile is not None
    blob = bytearray(tile.hashes)
    blob[32 * 200] ^= 1  # level 8 node 200: leaves 51200..51455
    db.execute(update(LogTile).where(LogTile.level == 1, LogTile.index == 0).values(hashes=bytes(blob)))
    problem = verify_log(db, signer.public_key()).first_problem
    assert problem is not None
    assert (problem.kind, problem.leaf_index) == ("tile", 51_200)
