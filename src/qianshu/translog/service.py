"""The public log's rules: append events, serve proofs, sign tree heads.

Plain functions over a SQLAlchemy session. They never commit: a leaf is written in the
caller's transaction, so the state change and its leaf commit or vanish together.

Sequencer: appends must see the current size and extend it without a gap or a duplicate,
even with several web workers. On SQLite write sessions start with ``BEGIN IMMEDIATE``
(:mod:`qianshu.core.db`), so one writer at a time holds the database; on PostgreSQL
:func:`_lock_sequencer` takes a transaction-scoped advisory lock before the size is read,
and under READ COMMITTED the next statement sees whatever the previous holder committed.
The leaf index is also the primary key, so a sequencing bug could only fail, never fork.

Encodings: leaf hashes are hex on :class:`LogEntry` (``.leaf_hash``) and in the portal; in
the signed tree head and the proofs served by the API every hash is standard base64 with
padding, as in the JSON of RFC 9162 section 5.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session

from qianshu.core.errors import InvalidInput, NotFound, QianshuError
from qianshu.core.signing import Signer, sign_document, verify_document
from qianshu.core.timeutil import utcnow
from qianshu.translog import merkle, tiles
from qianshu.translog.leaf import encode_event, format_at
from qianshu.translog.models import KEY_GENERATION_BITS, KEY_HASH_BITS, LogEntry, LogTile, SignedTreeHead, hash_key

__all__ = [
    "AppendedLeaf",
    "LogEntry",
    "SignedTreeHead",
    "append_event",
    "append_events",
    "consistency_proof",
    "decode_hash",
    "find_leaf_by_hash",
    "get_leaf",
    "inclusion_proof",
    "latest_tree_head",
    "leaves_between",
    "recent_leaves",
    "root_hash",
    "sign_tree_head",
    "tree_head_document",
    "tree_size",
    "verify_tree_head",
]

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
MAX_EVENT_TYPE = 60
# pg_advisory_xact_lock key of the log's sequencer ("qslog" in ASCII).
SEQUENCER_LOCK_KEY = 0x71736C6F67
_sha256 = hashlib.sha256


class LogCorruptedError(QianshuError):
    """Stored hashes are missing or inconsistent: ``qianshu log verify`` will say where."""

    status = 500
    default_code = "log_corrupted"


# --- sequencing and appends -----------------------------------------------------------


def _lock_sequencer(db: Session) -> None:
    if db.get_bind().dialect.name == "postgresql":
        db.execute(select(func.pg_advisory_xact_lock(SEQUENCER_LOCK_KEY)))


def tree_size(db: Session) -> int:
    """Number of leaves in the log (what this transaction sees)."""
    last = db.connection().exec_driver_sql("SELECT max(leaf_index) FROM translog_leaves").scalar()
    return 0 if last is None else int(last) + 1


def _check_event(event_type: Any, payload: Any) -> None:
    if not isinstance(event_type, str) or not event_type:
        raise InvalidInput("{field} is required.", field="event_type")
    if len(event_type) > MAX_EVENT_TYPE or not EVENT_TYPE.match(event_type):
        raise InvalidInput("Event type {value} is not of the form area.action.", field="event_type",
                           value=event_type[:MAX_EVENT_TYPE])
    if not isinstance(payload, dict):
        raise InvalidInput("The event payload must be a JSON object.", field="payload")


def _event_time(at: datetime | None) -> str:
    if at is None:
        return format_at(utcnow())
    if at.tzinfo is None:
        raise InvalidInput("The event time must carry a time zone.", field="at")
    return format_at(at)


def _encode(event_type: str, at: str, payload: dict[str, Any]) -> bytes:
    _check_event(event_type, payload)
    try:
        return encode_event(event_type, at, payload)
    except Exception as exc:  # rfc8785 raises its own errors for non-JSON values
        raise InvalidInput("The event payload cannot be written as canonical JSON.",
                           field="payload") from exc


def append_event(db: Session, event_type: str, payload: dict[str, Any], *,
                 at: datetime | None = None) -> LogEntry:
    """Append one event as a leaf in the caller's transaction; returns the persistent row."""
    leaf = _encode(event_type, _event_time(at), payload)
    first, _hashes = _append_leaves(db, [leaf])
    entry = db.get(LogEntry, first)
    if entry is None:  # pragma: no cover - we just inserted it
        raise LogCorruptedError("The log lost a leaf it had just written.")
    return entry


@dataclass(frozen=True, slots=True)
class AppendedLeaf:
    """What :func:`append_events` returns per event: plain values, not an ORM row."""

    index: int
    hash: bytes
    leaf: bytes

    @property
    def leaf_hash(self) -> str:
        """The leaf hash in hex (as :attr:`LogEntry.leaf_hash`)."""
        return self.hash.hex()


def append_events(db: Session, events: Sequence[tuple[str, dict[str, Any]]], *,
                  at: datetime | None = None) -> list[AppendedLeaf]:
    """Append many events at once (one time stamp); far faster than one by one.

    The rows are written with the driver's ``executemany``; the result holds each leaf's
    index, hash and bytes (load a :class:`LogEntry` with :func:`get_leaf` if one is needed).
    """
    when = _event_time(at)
    leaves = [_encode(event_type, when, payload) for event_type, payload in events]
    if not leaves:
        return []
    first, hashes = _append_leaves(db, leaves)
    return list(map(AppendedLeaf, range(first, first + len(leaves)), hashes, leaves))


def _append_leaves(db: Session, leaves: list[bytes]) -> tuple[int, list[bytes]]:
    """Sequence ``leaves`` after the current end and extend the tiles: (first index, leaf hashes)."""
    # Rows the caller added are written before the lock is taken, not while every other appender
    # waits for it (the lock is held until the caller's transaction ends).
    db.flush()
    _lock_sequencer(db)
    start = tree_size(db)
    sha256 = _sha256
    hashes = [sha256(b"\x00" + leaf).digest() for leaf in leaves]
    connection = db.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    # The driver's executemany, without SQLAlchemy's per-row bind processing: 3x faster.
    from_bytes = int.from_bytes
    shift, bits = KEY_GENERATION_BITS, KEY_HASH_BITS  # hash_key(), inlined
    connection.exec_driver_sql(
        f"INSERT INTO translog_leaves (leaf_index, hash, hash_key, leaf) "  # noqa: S608 - constant
        f"VALUES ({mark}, {mark}, {mark}, {mark})",
        [(index, h, (index >> shift) << bits | from_bytes(h[:5], "big"), leaf)
         for index, h, leaf in zip(range(start, start + len(leaves)), hashes, leaves, strict=True)],
    )
    _extend_tiles(db, start, hashes)
    return start, hashes


def _extend_tiles(db: Session, old_size: int, new_leaf_hashes: list[bytes]) -> None:
    new_size = old_size + len(new_leaf_hashes)
    edges = _right_edge_tiles(db, old_size)
    new_base: list[bytes] = new_leaf_hashes
    t = 0
    while new_base:
        shift = t * tiles.TILE_HEIGHT
        old_count = old_size >> shift
        if (new_size >> shift) - old_count != len(new_base):  # pragma: no cover - invariant
            raise LogCorruptedError("The log's tiles do not match its size.")
        first_tile = old_count // tiles.TILE_WIDTH
        partial = old_count % tiles.TILE_WIDTH
        base = new_base
        if partial:
            existing = edges.get((t, first_tile))
            if existing is None or existing[0] != partial:
                raise LogCorruptedError("The log's tiles do not match its size.")
            base = tiles.tile_base(existing[1], partial) + new_base
        tops: list[bytes] = []
        table = _tiles_table()
        inserts: list[dict[str, Any]] = []
        for offset in range(0, len(base), tiles.TILE_WIDTH):
            chunk = base[offset:offset + tiles.TILE_WIDTH]
            blob, top = tiles.build_tile(chunk)
            k = first_tile + offset // tiles.TILE_WIDTH
            if top is not None:
                tops.append(top)
            if offset == 0 and partial:
                db.execute(update(table).where(table.c.level == t, table.c.tile_index == k)
                           .values(width=len(chunk), hashes=blob))
            else:
                inserts.append({"level": t, "tile_index": k, "width": len(chunk), "hashes": blob})
        if inserts:
            db.execute(insert(table), inserts)
        new_base = tops
        t += 1


def _tiles_table() -> Table:
    table = LogTile.__table__
    assert isinstance(table, Table)
    return table


def _right_edge_tiles(db: Session, size: int) -> dict[tiles.TileKey, tuple[int, bytes]]:
    """The partial tile of every level for a tree of ``size`` (the only ones an append changes)."""
    keys: list[tiles.TileKey] = []
    t = 0
    while size >> (t * tiles.TILE_HEIGHT):
        count = size >> (t * tiles.TILE_HEIGHT)
        if count % tiles.TILE_WIDTH:
            keys.append((t, count // tiles.TILE_WIDTH))
        t += 1
    return _fetch_tiles(db, keys)


_TILE_QUERIES: dict[tuple[str, int], str] = {}


def _tile_query(paramstyle: str, count: int) -> str:
    """``SELECT`` of ``count`` tiles by key, as driver SQL (a proof is latency-bound)."""
    query = _TILE_QUERIES.get((paramstyle, count))
    if query is None:
        mark = "?" if paramstyle == "qmark" else "%s"
        where = " OR ".join([f"(level = {mark} AND tile_index = {mark})"] * count)
        query = f"SELECT level, tile_index, width, hashes FROM translog_tiles WHERE {where}"  # noqa: S608 - constant
        _TILE_QUERIES[(paramstyle, count)] = query
    return query


def _fetch_tiles(db: Session, keys: Iterable[tiles.TileKey]) -> dict[tiles.TileKey, tuple[int, bytes]]:
    unique = set(keys)
    if not unique:
        return {}
    connection = db.connection()
    params = tuple(value for key in unique for value in key)
    rows = connection.exec_driver_sql(_tile_query(connection.dialect.paramstyle, len(unique)), params)
    return {(int(t), int(k)): (int(w), bytes(blob)) for t, k, w, blob in rows}


def _fetch_nodes(db: Session, nodes: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
    located = {node: tiles.locate(*node) for node in nodes}
    stored = _fetch_tiles(db, (where[0] for where in located.values()))
    found: dict[merkle.Node, bytes] = {}
    for node, (key, row, position) in located.items():
        tile = stored.get(key)
        value = None if tile is None else tiles.node_from_tile(tile[1], tile[0], row, position)
        if value is None:
            raise LogCorruptedError("The log is missing the hash of node {level}/{index}.",
                               level=node[0], index=node[1])
        found[node] = value
    return found


# --- reading and proofs ------------------------------------------------------------------


def _check_int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("{field} must be a whole number.", field=field)
    if value < 0:
        raise InvalidInput("{field} must not be negative.", field=field)
    return int(value)


def _check_tree_size(db: Session, size: Any, field: str = "tree_size") -> int:
    checked = _check_int(size, field)
    current = tree_size(db)
    if checked > current:
        raise InvalidInput("{field} {value} is beyond the log, which has {size} leaves.",
                           field=field, value=checked, size=current)
    return checked


def get_leaf(db: Session, index: int) -> LogEntry:
    index = _check_int(index, "index")
    entry = db.get(LogEntry, index) if index < 2**63 else None
    if entry is None:
        raise NotFound("There is no leaf {index} in the log.", index=index)
    return entry


def leaves_between(db: Session, start: int, stop: int) -> list[LogEntry]:
    """Leaves ``[start, stop)`` in order (callers bound the range)."""
    query = select(LogEntry).where(LogEntry.index >= start, LogEntry.index < stop).order_by(LogEntry.index)
    return list(db.scalars(query))


def recent_leaves(db: Session, limit: int = 20) -> list[LogEntry]:
    return list(db.scalars(select(LogEntry).order_by(LogEntry.index.desc()).limit(max(1, min(limit, 200)))))


_LOOKUP_GENERATIONS = 500  # hash keys per query of find_leaf_by_hash


def find_leaf_by_hash(db: Session, leaf_hash: bytes) -> LogEntry | None:
    if not isinstance(leaf_hash, bytes) or len(leaf_hash) != merkle.HASH_SIZE:
        raise InvalidInput("A leaf hash is 32 bytes (64 hex digits or 44 base64 characters).",
                           field="leaf_hash")
    size = tree_size(db)
    generations = range(((size - 1) >> KEY_GENERATION_BITS) + 1 if size else 0)
    for first in range(0, len(generations), _LOOKUP_GENERATIONS):  # earliest leaf first
        keys = [hash_key(g << KEY_GENERATION_BITS, leaf_hash)
                for g in generations[first:first + _LOOKUP_GENERATIONS]]
        query = (select(LogEntry).where(LogEntry.hash_key.in_(keys), LogEntry.hash == leaf_hash)
                 .order_by(LogEntry.index).limit(1))
        found = db.scalars(query).first()
        if found is not None:
            return found
    return None


def decode_hash(text: str, field: str = "leaf_hash") -> bytes:
    """A 32-byte hash given as 64 hex digits or as base64 (standard or URL-safe)."""
    value = text.strip() if isinstance(text, str) else ""
    raw: bytes | None = None
    try:
        if len(value) == 2 * merkle.HASH_SIZE:
            raw = bytes.fromhex(value)
        elif len(value) in (43, 44):
            padded = value.replace("-", "+").replace("_", "/").ljust(44, "=")
            raw = base64.b64decode(padded, validate=True)
    except (ValueError, binascii.Error):
        raw = None
    if raw is None or len(raw) != merkle.HASH_SIZE:
        raise InvalidInput("A leaf hash is 32 bytes (64 hex digits or 44 base64 characters).", field=field)
    return raw


def root_hash(db: Session, tree_size: int) -> bytes:
    """Merkle tree hash of the first ``tree_size`` leaves (RFC 9162 MTH)."""
    size = _check_tree_size(db, tree_size)
    nodes = merkle.range_nodes(0, size)
    found = _fetch_nodes(db, nodes)
    return merkle.fold_range([found[node] for node in nodes])


def inclusion_proof(db: Session, index: int, tree_size: int) -> list[bytes]:
    """``PATH(index, D[tree_size])`` of RFC 9162 2.1.3.1, leaf to root."""
    size = _check_tree_size(db, tree_size)
    index = _check_int(index, "index")
    if index >= size:
        raise InvalidInput("Leaf {index} is not in a tree of {size} leaves.", field="index",
                           index=index, size=size)
    plan = merkle.inclusion_plan(index, size)
    return merkle.assemble(plan, _fetch_nodes(db, merkle.nodes_of_plan(plan)))


def consistency_proof(db: Session, first: int, second: int) -> list[bytes]:
    """``PROOF(first, D[second])`` of RFC 9162 2.1.4.1 (empty when a size is 0 or both equal)."""
    second = _check_tree_size(db, second, "second")
    first = _check_int(first, "first")
    if first > second:
        raise InvalidInput("The first tree size ({first}) is larger than the second ({second}).",
                           field="first", first=first, second=second)
    if first == 0 or first == second:
        return []
    plan = merkle.consistency_plan(first, second)
    return merkle.assemble(plan, _fetch_nodes(db, merkle.nodes_of_plan(plan)))


# --- signed tree heads ---------------------------------------------------------------------


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def tree_head_document(sth: SignedTreeHead) -> dict[str, Any]:
    """The published form: what a bank saves and later gives to ``qianshu log audit``."""
    return {"tree_size": sth.tree_size, "root_hash": b64(sth.root_hash), "timestamp": sth.timestamp,
            "algorithm": sth.algorithm, "key_id": sth.key_id, "signature": sth.signature}


def _signed_part(tree_size: int, root_b64: str, timestamp: int) -> dict[str, Any]:
    return {"tree_size": tree_size, "root_hash": root_b64, "timestamp": timestamp}


def sign_tree_head(db: Session, signer: Signer) -> SignedTreeHead:
    """Sign and store the head of the log as this transaction sees it."""
    _lock_sequencer(db)  # the head must not race an append on PostgreSQL
    db.flush()
    size = tree_size(db)
    root = root_hash(db, size)
    timestamp = int(utcnow().timestamp() * 1000)
    previous = latest_tree_head(db)
    if previous is not None and previous.timestamp >= timestamp:
        timestamp = previous.timestamp + 1  # heads are strictly ordered in time
    signature = sign_document(signer, _signed_part(size, b64(root), timestamp))
    sth = SignedTreeHead(tree_size=size, root_hash=root, timestamp=timestamp, algorithm=signer.algorithm,
                         key_id=signer.key_id, signature=signature)
    db.add(sth)
    db.flush()
    return sth


def latest_tree_head(db: Session) -> SignedTreeHead | None:
    return db.scalars(select(SignedTreeHead).order_by(SignedTreeHead.tree_size.desc(),
                                                      SignedTreeHead.timestamp.desc(),
                                                      SignedTreeHead.id.desc()).limit(1)).first()


def all_tree_heads(db: Session) -> list[SignedTreeHead]:
    return list(db.scalars(select(SignedTreeHead).order_by(SignedTreeHead.tree_size, SignedTreeHead.id)))


def parse_tree_head(sth: Any) -> tuple[int, bytes, int, str]:
    """Check the shape of a published head: (tree_size, root hash, timestamp, signature)."""
    if not isinstance(sth, dict):
        raise InvalidInput("A tree head is a JSON object.", field="sth")
    size, root_text, timestamp, signature = (sth.get("tree_size"), sth.get("root_hash"),
                                             sth.get("timestamp"), sth.get("signature"))
    for name, value in (("tree_size", size), ("timestamp", timestamp)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput("{field} must be a whole number.", field=name)
    if not isinstance(root_text, str) or not isinstance(signature, str):
        raise InvalidInput("A tree head needs root_hash and signature.", field="sth")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (ValueError, binascii.Error):
        root = b""
    if len(root) != merkle.HASH_SIZE:
        raise InvalidInput("root_hash must be 32 bytes in base64.", field="root_hash")
    return int(size), root, int(timestamp), signature  # type: ignore[arg-type]


def verify_tree_head(public_key: Ed25519PublicKey, sth_dict: Any) -> bool:
    """True if ``sth_dict`` (the published form) is well formed and signed by ``public_key``."""
    try:
        size, root, timestamp, signature = parse_tree_head(sth_dict)
    except InvalidInput:
        return False
    return verify_document(public_key, _signed_part(size, b64(root), timestamp), signature)


def proof_bundle(db: Session, entry: LogEntry) -> dict[str, Any] | None:
    """Everything the browser needs to check ``entry`` against the latest signed head."""
    head = latest_tree_head(db)
    if head is None or head.tree_size <= entry.index:
        return None
    proof = inclusion_proof(db, entry.index, head.tree_size)
    return {"leaf_index": entry.index, "tree_size": head.tree_size, "leaf": entry.leaf.decode("utf-8"),
            "leaf_hash": b64(entry.hash), "inclusion_path": [b64(h) for h in proof],
            "root_hash": b64(head.root_hash)}
