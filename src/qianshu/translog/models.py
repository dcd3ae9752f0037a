"""Tables of the public log: leaves, tiles of interior hashes, signed tree heads.

``translog_leaves``  one row per leaf: its 0-based index, the leaf bytes (RFC 8785 canonical
                     JSON of the event), the leaf hash ``SHA-256(0x00 || leaf)`` and
                     ``hash_key`` (:func:`hash_key`), the indexed key of the lookup by hash.
``translog_tiles``   the tree's hashes in tiles of height 8 (see :mod:`qianshu.translog.tiles`):
                     a proof reads a handful of tiles, an append rewrites only the tiles on
                     the right edge and never re-hashes history.
``translog_tree_heads`` signed tree heads (size, root, timestamp in ms, Ed25519 signature).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.core.db import Base
from qianshu.core.timeutil import utcnow

# On SQLite only ``INTEGER PRIMARY KEY`` is the rowid: the cheapest key there is.
BigIntegerKey = BigInteger().with_variant(Integer(), "sqlite")


class LogEntry(Base):
    __tablename__ = "translog_leaves"
    __table_args__ = (Index("ix_translog_leaves_hash_key", "hash_key"),)

    index: Mapped[int] = mapped_column("leaf_index", BigIntegerKey, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # A lookup aid derived from ``hash`` (see :func:`hash_key`), not part of the tree.
    hash_key: Mapped[int] = mapped_column(BigInteger)
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
    # Set by the database: batch appends then bind three plain values per row.
    created_at: Mapped[datetime] = mapped_column(server_default=text("CURRENT_TIMESTAMP"))

    @property
    def leaf_hash(self) -> str:
        """The leaf hash in hex (what a certificate prints)."""
        return self.hash.hex()

    @property
    def document(self) -> dict[str, Any]:
        """The event: ``{"type", "at", "payload"}``."""
        value: dict[str, Any] = json.loads(self.leaf)
        return value

    @property
    def event_type(self) -> str:
        return str(self.document.get("type", ""))


KEY_GENERATION_BITS = 18  # leaves per generation: 2**18
KEY_HASH_BITS = 40


def hash_key(leaf_index: int, leaf_hash: bytes) -> int:
    """The indexed lookup key of a leaf: ``generation << 40 | first 5 bytes of its hash``.

    The generation is ``leaf_index >> 18``. An index on the bare hash (or any prefix of it)
    is random-keyed: at 10M leaves a batch of 50,000 appends dirties most of its pages,
    which SQLite writes to the WAL and back on every commit (measured: appends fell from
    ~110,000 to 20,000-50,000 leaves/s by 2M leaves). With the generation first, appends
    touch only the current generation's few hundred index pages; a lookup probes every
    generation (``IN`` over ``size >> 18`` keys: 39 at 10M) and compares the full hash.
    An 8-byte integer also packs 4x more entries per index page than the 32-byte hash.
    """
    return ((leaf_index >> KEY_GENERATION_BITS) << KEY_HASH_BITS) | int.from_bytes(leaf_hash[:5], "big")


class LogTile(Base):
    __tablename__ = "translog_tiles"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column("tile_index", BigInteger, primary_key=True, autoincrement=False)
    width: Mapped[int] = mapped_column(SmallInteger)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)


class SignedTreeHead(Base):
    __tablename__ = "translog_tree_heads"
    __table_args__ = (Index("ix_translog_tree_heads_tree_size", "tree_size"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp: Mapped[int] = mapped_column(BigInteger)  # milliseconds since the Unix epoch, UTC
    algorithm: Mapped[str] = mapped_column(String(20))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(200))  # base64
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
