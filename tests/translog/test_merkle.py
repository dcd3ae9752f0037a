"""Tree math against the RFC's recursive definitions (tests/translog/rfc9162_reference.py)."""

from __future__ import annotations

import pytest

from qianshu.translog import merkle
from tests.translog import rfc9162_reference as ref

LEAVES = [f"leaf {i}".encode() for i in range(70)]
HASHES = [ref.leaf_hash(leaf) for leaf in LEAVES]


def _proof_from_plan(plan: list[tuple[int, int]]) -> list[bytes]:
    """Assemble a planned proof from in-memory leaf hashes (storage-free)."""
    return [merkle.root_of_leaves(HASHES[start:end]) for start, end in plan]


def test_hash_prefixes_are_rfc_9162() -> None:
    assert merkle.leaf_hash(b"abc") == ref.sha256(b"\x00abc")
    assert merkle.node_hash(b"a" * 32, b"b" * 32) == ref.sha256(b"\x01" + b"a" * 32 + b"b" * 32)
    assert ref.mth([]) == merkle.EMPTY_ROOT


@pytest.mark.parametrize("n", range(0, 70))
def test_root_matches_reference(n: int) -> None:
    assert merkle.root_of_leaves(HASHES[:n]) == ref.mth(LEAVES[:n])


@pytest.mark.parametrize("n", range(1, 40))
def test_inclusion_proofs_match_reference_path(n: int) -> None:
    root = ref.mth(LEAVES[:n])
    for m in range(n):
        proof = _proof_from_plan(merkle.inclusion_plan(m, n))
        assert proof == ref.path(m, LEAVES[:n])
        assert ref.verify_inclusion(m, n, HASHES[m], proof, root)
        assert merkle.verify_inclusion(m, n, HASHES[m], proof, root)


@pytest.mark.parametrize("n", range(2, 40))
def test_consistency_proofs_match_reference(n: int) -> None:
    second = ref.mth(LEAVES[:n])
    for m in range(1, n):
        proof = _proof_from_plan(merkle.consistency_plan(m, n))
        assert proof == ref.proof(m, LEAVES[:n])
        first = ref.mth(LEAVES[:m])
        assert ref.verify_consistency(m, n, first, second, proof)
        assert merkle.verify_consistency(m, n, first, second, proof)


def test_range_nodes_are_aligned_complete_subtrees() -> None:
    assert merkle.range_nodes(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert merkle.range_nodes(8, 13) == [(2, 2), (0, 12)]
    for start, end in merkle.inclusion_plan(5, 13) + merkle.consistency_plan(5, 13):
        for level, index in merkle.range_nodes(start, end):
            assert (index << level) >= start
            assert ((index + 1) << level) <= end


def test_our_verifier_rejects_what_the_reference_rejects() -> None:
    n, m = 21, 6
    root = ref.mth(LEAVES[:n])
    proof = ref.path(m, LEAVES[:n])
    bad = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    for args in [(m, n, HASHES[m], bad, root), (m + 1, n, HASHES[m], proof, root),
                 (m, n, HASHES[m], proof[:-1], root),
                 (m, n, HASHES[m], [*proof, proof[0]], root), (n, n, HASHES[m], proof, root)]:
        assert not ref.verify_inclusion(*args)
        assert not merkle.verify_inclusion(*args)
    first = ref.mth(LEAVES[:m])
    cproof = ref.proof(m, LEAVES[:n])
    assert not merkle.verify_consistency(m, n, first, root, cproof[:-1])
    assert not merkle.verify_consistency(m, n, root, first, cproof)
    assert not merkle.verify_consistency(m, n, first, root, [])
    assert merkle.verify_consistency(n, n, root, root, [])
    assert not merkle.verify_consistency(n, n, root, first, [])
