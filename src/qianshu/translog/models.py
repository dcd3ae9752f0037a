"""Tables of the public log: leaves, tiles of interior hashes, signed tree heads.

``translog_leaves``  one row per leaf: its 0-based index, the leaf bytes (RFC 8785 canonical
                     JSON of the event) and the leaf hash ``SHA-256(0x00 || leaf)``.
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
    __table_args__ = (Index("ix_translog_leaves_hash", "hash"),)

    index: Mapped[int] = mapped_column("leaf_index", BigIntegerKey, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
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
