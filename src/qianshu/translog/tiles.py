"""Tiles: how the tree's hashes are stored (the idea of Go's ``golang.org/x/mod/sumdb/tlog``).

Node ``(level, index)`` is the root of the complete subtree over leaves
``[index << level, (index + 1) << level)``; level 0 is the leaf hashes. Tile ``(t, k)`` holds
levels ``8t`` … ``8t + 7`` of one 256-wide slice of the tree: its *base* is nodes
``(8t, 256k)`` … ``(8t, 256k + 255)`` and above them the nodes those pair up into, up to
level ``8t + 7`` (2 nodes). The node above a full tile, at level ``8(t + 1)``, is a base
node of tile ``(t + 1, k // 256)``. So every complete node of the tree is stored exactly
once, a proof for a 10-million-leaf tree reads at most a few tiles per tile level, and an
append rewrites only the right-edge tile of each level.

A tile of width ``w`` (base nodes present, 1 … 256) is stored as its rows concatenated:
row ``j`` (level ``8t + j``) holds the ``w >> j`` complete nodes of that level.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from qianshu.translog.merkle import HASH_SIZE, NODE_PREFIX

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT

_sha256 = hashlib.sha256

TileKey = tuple[int, int]  # (tile level t, tile index k)


def locate(level: int, index: int) -> tuple[TileKey, int, int]:
    """Where node ``(level, index)`` lives: its tile, its row in the tile, its position in the row."""
    t, j = divmod(level, TILE_HEIGHT)
    shift = TILE_HEIGHT - j
    return (t, index >> shift), j, index & ((1 << shift) - 1)


def row_offset(width: int, row: int) -> int:
    """Index (in hashes) of the first node of ``row`` in a tile of ``width``."""
    return sum(width >> j for j in range(row))


def node_from_tile(blob: bytes, width: int, row: int, position: int) -> bytes | None:
    if position >= width >> row:
        return None
    start = (row_offset(width, row) + position) * HASH_SIZE
    return blob[start:start + HASH_SIZE]


def pair_up(row: Sequence[bytes]) -> list[bytes]:
    """The level above ``row``: its complete pairs hashed (a trailing odd node has no parent yet)."""
    prefix = NODE_PREFIX
    return [_sha256(prefix + row[i] + row[i + 1]).digest() for i in range(0, len(row) - 1, 2)]


def build_tile(base: Sequence[bytes]) -> tuple[bytes, bytes | None]:
    """The stored blob of a tile with this base, and the node above it if the tile is full."""
    rows = [list(base)]
    for _ in range(1, TILE_HEIGHT):
        rows.append(pair_up(rows[-1]))
    blob = b"".join(b"".join(row) for row in rows)
    top = None
    if len(base) == TILE_WIDTH:
        last = rows[-1]
        top = _sha256(NODE_PREFIX + last[0] + last[1]).digest()
    return blob, top


def tile_base(blob: bytes, width: int) -> list[bytes]:
    return [blob[i:i + HASH_SIZE] for i in range(0, width * HASH_SIZE, HASH_SIZE)]


def tile_bytes(width: int) -> int:
    return row_offset(width, TILE_HEIGHT) * HASH_SIZE
