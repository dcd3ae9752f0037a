"""``qianshu log verify``: recompute the whole tree from the leaves and check every stored row.

One pass over the leaves in index order, in chunks of 64 Ki:

1. the indexes must run 0, 1, 2, … (a gap is a deleted leaf);
2. each leaf's bytes must hash to its stored leaf hash (an edited leaf);
3. the tiles are rebuilt from the recomputed leaf hashes and compared byte for byte with
   the stored ones (a leaf rewritten together with its hash, a reordering or an insertion
   shows up as the first tile node that no longer matches; a damaged interior hash too);
4. every stored signed tree head must carry a valid signature and the root recomputed for
   its size (a history rewritten consistently in every table still contradicts the heads
   the exchange signed and banks saved).

Nodes from level 8 up are kept in memory (n / 128 hashes), so the root at any head's size
costs no extra reads. The first problem found is reported with the leaf it concerns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core.i18n import translate
from qianshu.core.signing import verify_document
from qianshu.translog import merkle, tiles
from qianshu.translog.models import LogEntry, LogTile, SignedTreeHead
from qianshu.translog.service import b64

CHUNK = 1 << 16
HIGH = tiles.TILE_HEIGHT  # levels >= HIGH are kept in memory during the pass
Progress = Callable[[int, int], None]


@dataclass
class Problem:
    kind: str  # edited|deleted|inserted|reordered|tile|head_signature|head_root|truncated|extra
    message: str  # English template; translated by :meth:`render`
    leaf_index: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, lang: str = "en") -> str:
        return translate(self.message, lang, **self.params)


@dataclass
class VerifyReport:
    tree_size: int = 0
    leaves_checked: int = 0
    tiles_checked: int = 0
    heads_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None


class _StopError(Exception):
    pass


class _Verifier:
    def __init__(self, db: Session, public_key: Ed25519PublicKey | None, progress: Progress | None) -> None:
        self.db = db
        self.public_key = public_key
        self.progress = progress
        self.report = VerifyReport()
        self.high: list[list[bytes]] = []  # self.high[i] = complete nodes at level HIGH + i
        self.chunk_start = 0
        self.chunk_hashes: list[bytes] = []
        heads = db.scalars(select(SignedTreeHead).order_by(SignedTreeHead.tree_size, SignedTreeHead.id))
        self.heads = list(heads)
        self.next_head = 0
        self.last_good_head = 0  # size of the last head that matched: history before it is intact
        self.tiles_done: dict[int, int] = {}  # tile level -> tiles checked so far

    def fail(self, kind: str, message: str, leaf_index: int | None = None, **params: Any) -> _StopError:
        self.report.problems.append(Problem(kind, message, leaf_index, params))
        return _StopError()

    # --- the pass -------------------------------------------------------------------------

    def run(self) -> VerifyReport:
        db = self.db
        last = db.scalar(select(func.max(LogEntry.index)))
        size = 0 if last is None else int(last) + 1
        self.report.tree_size = size
        # The driver's cursor, not ORM rows: the pass is bound by per-row cost.
        cursor = db.connection().connection.cursor()
        mark = "?" if db.get_bind().dialect.paramstyle == "qmark" else "%s"
        query = (f"SELECT hash, leaf FROM translog_leaves WHERE leaf_index >= {mark} "  # noqa: S608 - constant
                 f"AND leaf_index < {mark} ORDER BY leaf_index")
        sha256 = hashlib.sha256
        try:
            position = 0
            while position < size:
                expected = min(CHUNK, size - position)
                cursor.execute(query, (position, position + expected))
                rows = cursor.fetchall()
                if len(rows) != expected:  # the indexes are unique integers: fewer rows is a gap
                    self._gap(position, position + expected)
                stored, leaves = zip(*rows, strict=True)
                computed = [sha256(b"\x00" + leaf).digest() for leaf in leaves]
                if computed != list(stored):
                    first = next(i for i, (a, b) in enumerate(zip(computed, stored, strict=True)) if a != b)
                    raise self.fail("edited", "Leaf {index} was changed: its bytes no longer match its hash.",
                                    position + first, index=position + first)
                self.chunk_start, self.chunk_hashes = position, computed
                self._check_level0_tiles(position, computed)
                position += expected
                self.report.leaves_checked = position
                self._check_heads_up_to(position)
                if self.progress:
                    self.progress(position, size)
            self._finish(size)
        except _StopError:
            pass
        return self.report

    def _gap(self, position: int, end: int) -> None:
        c = LogEntry.__table__.c
        indexes = list(self.db.scalars(select(c.leaf_index).where(c.leaf_index >= position, c.leaf_index < end)
                                       .order_by(c.leaf_index)))
        first = next((i for i, index in enumerate(indexes) if index != position + i), len(indexes))
        missing = position + first
        raise self.fail("deleted", "Leaf {index} is missing: it was deleted after the fact.", missing,
                        index=missing)

    # --- tiles ---------------------------------------------------------------------------

    def _stored_tiles(self, level: int, first: int, last: int) -> dict[int, tuple[int, bytes]]:
        c = LogTile.__table__.c
        rows = self.db.execute(select(c.tile_index, c.width, c.hashes)
                               .where(c.level == level, c.tile_index >= first, c.tile_index <= last))
        return {int(k): (int(w), bytes(blob)) for k, w, blob in rows}

    def _check_level0_tiles(self, position: int, computed: list[bytes]) -> None:
        width = tiles.TILE_WIDTH
        first, last = position // width, (position + len(computed) - 1) // width
        stored = self._stored_tiles(0, first, last)
        tops: list[bytes] = []
        for k in range(first, last + 1):
            base = computed[k * width - position:(k + 1) * width - position]
            blob, top = tiles.build_tile(base)
            self._compare_tile(0, k, len(base), blob, stored.get(k))
            if top is not None:
                tops.append(top)
        self.report.tiles_checked += last - first + 1
        self._add_high(tops)

    def _add_high(self, tops: list[bytes]) -> None:
        """Append new level-8 nodes and pair them up the levels; check tiles that fill up."""
        if not self.high:
            self.high.append([])
        self.high[0].extend(tops)
        level = 0
        while level < len(self.high):
            row = self.high[level]
            paired = 2 * len(self.high[level + 1]) if level + 1 < len(self.high) else 0
            if len(row) - paired < 2:
                break
            if level + 1 == len(self.high):
                self.high.append([])
            self.high[level + 1].extend(tiles.pair_up(row[paired:]))
            level += 1
        # full tiles of tile level >= 1 are complete once their base row has 256 more nodes
        for t in range(1, (len(self.high) - 1) // HIGH + 2):
            base_level = (t - 1) * HIGH
            if base_level >= len(self.high):
                break
            self._check_high_tiles(t, final=False)

    def _check_high_tiles(self, t: int, *, final: bool) -> None:
        base_row = self.high[(t - 1) * HIGH]
        checked = self.tiles_done.get(t, 0)
        full = len(base_row) // tiles.TILE_WIDTH
        upto = full + (1 if final and len(base_row) % tiles.TILE_WIDTH else 0)
        if upto <= checked:
            return
        stored = self._stored_tiles(t, checked, upto - 1)
        for k in range(checked, upto):
            base = base_row[k * tiles.TILE_WIDTH:(k + 1) * tiles.TILE_WIDTH]
            blob, _top = tiles.build_tile(base)
            self._compare_tile(t, k, len(base), blob, stored.get(k))
            self.report.tiles_checked += 1
        self.tiles_done[t] = upto

    def _compare_tile(self, t: int, k: int, width: int, blob: bytes,
                      stored: tuple[int, bytes] | None) -> None:
        first_leaf = (k * tiles.TILE_WIDTH) << (t * HIGH)
        if stored is None:
            raise self.fail("tile", "The tree's hashes over leaves from {index} are missing.",
                            first_leaf, index=first_leaf)
        if stored[0] != width:
            # The tree was built over a different number of leaves than there are now.
            at = (first_leaf + (min(width, stored[0]) << (t * HIGH)))
            if stored[0] > width:
                raise self.fail("deleted", "Leaf {index} is missing: it was deleted after the fact.", at,
                                index=at)
            raise self.fail("inserted", "Leaf {index} was added without being entered in the tree.", at,
                            index=at)
        if stored[1] == blob:
            return
        # Find the first differing node and name the first leaf under it.
        for row in range(tiles.TILE_HEIGHT):
            for position in range(width >> row):
                mine = tiles.node_from_tile(blob, width, row, position)
                theirs = tiles.node_from_tile(stored[1], width, row, position)
                if mine != theirs:
                    level = t * HIGH + row
                    start = (((k * tiles.TILE_WIDTH) >> row) + position) << level
                    end = start + (1 << level) - 1
                    if t == 0 and row == 0:
                        raise self.fail("reordered",
                                        "Leaf {index} was rewritten, moved or inserted after the fact: "
                                        "it does not match the tree built when it was appended.",
                                        start, index=start)
                    raise self.fail("tile", "The tree's hash over leaves {index} to {end} is damaged or "
                                    "a leaf in that range was rewritten.", start, index=start, end=end)

    # --- heads ---------------------------------------------------------------------------

    def _node(self, level: int, index: int) -> bytes:
        if level >= HIGH:
            return self.high[level - HIGH][index]
        start = (index << level) - self.chunk_start
        return merkle.root_of_leaves(self.chunk_hashes[start:start + (1 << level)])

    def _root(self, size: int) -> bytes:
        return merkle.fold_range([self._node(level, index) for level, index in merkle.range_nodes(0, size)])

    def _check_heads_up_to(self, position: int) -> None:
        while self.next_head < len(self.heads) and self.heads[self.next_head].tree_size <= position:
            self._check_head(self.heads[self.next_head])
            self.next_head += 1

    def _check_head(self, head: SignedTreeHead) -> None:
        self.report.heads_checked += 1
        if self.public_key is not None:
            signed = {"tree_size": head.tree_size, "root_hash": b64(head.root_hash),
                      "timestamp": head.timestamp}
            if not verify_document(self.public_key, signed, head.signature):
                raise self.fail("head_signature", "The signed tree head of size {size} has a bad signature.",
                                None, size=head.tree_size)
        if self._root(head.tree_size) != head.root_hash:
            raise self.fail("head_root", "The log no longer matches its signed tree head of size {size}: "
                            "a leaf from {start} to {end} was rewritten.", self.last_good_head,
                            size=head.tree_size, start=self.last_good_head, end=head.tree_size - 1)
        self.last_good_head = head.tree_size

    def _finish(self, size: int) -> None:
        for t in range(1, len(self.high) // HIGH + 2):
            if (t - 1) * HIGH < len(self.high):
                self._check_high_tiles(t, final=True)
        self._check_heads_up_to(size)
        if self.next_head < len(self.heads):
            head = self.heads[self.next_head]
            raise self.fail("truncated", "The signed tree head of size {size} is beyond the log's {leaves} "
                            "leaves: leaves were deleted from the end.", size, size=head.tree_size,
                            leaves=size)
        c = LogTile.__table__.c
        for level, top in self.db.execute(select(c.level, func.max(c.tile_index)).group_by(c.level)):
            expected = size >> (int(level) * HIGH)
            if expected == 0 or int(top) > (expected - 1) // tiles.TILE_WIDTH:
                raise self.fail("extra", "The log holds tree hashes beyond its {leaves} leaves.", size,
                                leaves=size)


def verify_log(db: Session, public_key: Ed25519PublicKey | None,
               progress: Progress | None = None) -> VerifyReport:
    """Check every leaf, stored hash and signed tree head; the report names the first problem."""
    return _Verifier(db, public_key, progress).run()
