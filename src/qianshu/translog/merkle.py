"""Merkle tree math of RFC 9162 section 2.1, independent of storage.

Hashes: ``leaf = SHA-256(0x00 || leaf bytes)``, ``node = SHA-256(0x01 || left || right)``.

Proofs are produced in two steps so that storage reads O(log n) rows:

1. a *plan*: for ``PATH(m, D[n])`` (inclusion, 2.1.3.1) or ``PROOF(m, D[n])``
   (consistency, 2.1.4.1), the list of leaf ranges ``[start, end)`` whose Merkle tree hash
   is one proof element, in RFC order;
2. every range splits into complete, aligned subtrees (:func:`range_nodes`), node
   ``(level, index)`` covering leaves ``[index * 2**level, (index + 1) * 2**level)``;
   storage fetches those nodes and :func:`fold_range` folds them into the element.

Every range in a plan starts at a multiple of the smallest power of two that is at least
its length (the RFC splits at the largest power of two below ``n``), so it decomposes
into at most ``log2 n`` complete subtrees, which are immutable once written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]  # (level, index)
Range = tuple[int, int]  # [start, end)

_sha256 = hashlib.sha256


def leaf_hash(leaf: bytes) -> bytes:
    return _sha256(LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(NODE_PREFIX + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The ``k`` of RFC 9162: the largest power of two smaller than ``n`` (``n > 1``)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[Node]:
    """Complete subtrees that make up ``[start, end)``, left to right (largest first)."""
    nodes: list[Node] = []
    size = end - start
    position = start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append((level, position >> level))
            position += 1 << level
    return nodes


def fold_range(hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of a range from its complete subtrees (as in :func:`range_nodes`)."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_plan(index: int, tree_size: int) -> list[Range]:
    """The ranges of ``PATH(index, D[tree_size])``, leaf to root (RFC 9162 2.1.3.1)."""
    if not 0 <= index < tree_size:
        raise ValueError("index outside the tree")
    plan: list[Range] = []
    start, end, m = 0, tree_size, index
    while end - start > 1:
        k = largest_power_of_two_below(end - start)
        if m < k:
            plan.append((start + k, end))
            end = start + k
        else:
            plan.append((start, start + k))
            start, m = start + k, m - k
    plan.reverse()  # the recursion emits the deepest sibling first
    return plan


def consistency_plan(first: int, second: int) -> list[Range]:
    """The ranges of ``PROOF(first, D[second])`` (RFC 9162 2.1.4.1); empty if equal sizes."""
    if not 0 < first <= second:
        raise ValueError("need 0 < first <= second")
    plan: list[Range] = []
    start, end, m, whole = 0, second, first, True
    while True:
        n = end - start
        if m == n:
            if not whole:
                plan.append((start, end))
            break
        k = largest_power_of_two_below(n)
        if m <= k:
            plan.append((start + k, end))
            end = start + k
        else:
            plan.append((start, start + k))
            start, m, whole = start + k, m - k, False
    plan.reverse()
    return plan


def nodes_of_plan(plan: Sequence[Range]) -> set[Node]:
    needed: set[Node] = set()
    for start, end in plan:
        needed.update(range_nodes(start, end))
    return needed


def assemble(plan: Sequence[Range], nodes: dict[Node, bytes]) -> list[bytes]:
    return [fold_range([nodes[node] for node in range_nodes(start, end)]) for start, end in plan]


# --- verification (RFC 9162 2.1.3.2 and 2.1.4.2), used by the CLI's audit and the portal ---


def root_from_inclusion_proof(index: int, tree_size: int, leaf: bytes,
                              proof: Sequence[bytes]) -> bytes | None:
    """The root that ``proof`` implies for leaf hash ``leaf``, or None if the proof is malformed."""
    if not 0 <= index < tree_size or any(len(p) != HASH_SIZE for p in proof):
        return None
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    return root_from_inclusion_proof(index, tree_size, leaf, proof) == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    if any(len(p) != HASH_SIZE for p in proof) or not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof  # the empty tree is a prefix of every tree
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def root_of_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes held in memory (small trees, tests and the audit of an export)."""
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    # Left-balanced tree == fold of the complete subtrees of the binary digits of n.
    return fold_range(_complete_subtree_roots(level))


def _complete_subtree_roots(leaf_hashes: list[bytes]) -> list[bytes]:
    roots: list[bytes] = []
    position = 0
    for level, _index in range_nodes(0, len(leaf_hashes)):
        chunk = leaf_hashes[position:position + (1 << level)]
        position += 1 << level
        while len(chunk) > 1:
            chunk = [node_hash(chunk[i], chunk[i + 1]) for i in range(0, len(chunk), 2)]
        roots.append(chunk[0])
    return roots
