"""An independent RFC 9162 implementation, written from the RFC's text, for checking ours.

Nothing here imports Qianshu: it is what a bank's auditor would write. Definitions follow
RFC 9162 section 2.1 literally (recursive MTH, PATH and SUBPROOF; the iterative
verification algorithms of 2.1.3.2 and 2.1.4.2), trading speed for being obviously right.
"""

from __future__ import annotations

import hashlib


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(leaf: bytes) -> bytes:
    return sha256(b"\x00" + leaf)


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) of section 2.1.1, over the leaf *inputs*."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaf_hash(leaves[0])
    k = _k(n)
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of section 2.1.3.1."""
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of section 2.1.4.1."""
    return _subproof(m, leaves, True)


def _subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], b), mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def verify_inclusion(leaf_index: int, tree_size: int, hash_: bytes, inclusion_path: list[bytes],
                     root_hash: bytes) -> bool:
    """Section 2.1.3.2, step by step."""
    # 1. Compare leaf_index against tree_size. If leaf_index >= tree_size, fail.
    if leaf_index >= tree_size or leaf_index < 0:
        return False
    # 2. fn = leaf_index, sn = tree_size - 1.
    fn, sn = leaf_index, tree_size - 1
    # 3. r = hash.
    r = hash_
    # 4. For each p in inclusion_path:
    for p in inclusion_path:
        # a. If sn is 0, stop and fail.
        if sn == 0:
            return False
        # b. If LSB(fn) is set, or if fn is equal to sn:
        if fn % 2 == 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            if fn % 2 == 0:
                while not (fn % 2 == 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha256(b"\x01" + r + p)
        # c. Right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 5. sn must be 0 and r equal to root_hash.
    return sn == 0 and r == root_hash


def verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes,
                       consistency_path: list[bytes]) -> bool:
    """Section 2.1.4.2, step by step (0 < first < second)."""
    if not 0 < first < second:
        return False
    # 1. If consistency_path is empty, fail.
    if not consistency_path:
        return False
    path_ = list(consistency_path)
    # 2. If first is an exact power of 2, prepend first_hash.
    if first & (first - 1) == 0:
        path_ = [first_hash, *path_]
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = first - 1, second - 1
    # 4. If LSB(fn) is set, right-shift both until LSB(fn) is not set.
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = first value.
    fr = sr = path_[0]
    # 6. For each subsequent c:
    for c in path_[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = sha256(b"\x01" + c + fr)
            sr = sha256(b"\x01" + c + sr)
            if fn % 2 == 0:
                while not (fn % 2 == 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha256(b"\x01" + sr + c)
        fn >>= 1
        sn >>= 1
    # 7. fr == first_hash, sr == second_hash, sn == 0.
    return fr == first_hash and sr == second_hash and sn == 0
