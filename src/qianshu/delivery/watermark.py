"""Relational watermarks keyed to a recipient, in the spirit of Agrawal and Kiernan (VLDB 2002).

Every delivered copy of a product is marked with a secret of its own: the HMAC of the exchange's
secret and the contract id (:func:`recipient_secret`). For each row, a keyed hash of the row's
identity (the values of the columns that identify it, normalised so that re-encoding, renaming
or reordering the columns does not change it) decides, per markable column, whether the cell is
marked (about one row in ``gamma``) and which bit it carries:

- a numeric cell moves by ``+step`` (bit 1) or ``-step`` (bit 0), where ``step`` is at most the
  tolerance the seller allows for the column, in whole units of the column's last digit; so no
  value, and no mean, moves by more than the tolerance (the signs are balanced: in practice a mean
  moves far less);
- a text cell takes one of two forms a reader does not tell apart from the original: bit 1 the
  full-width digits (``１２３`` for ``123``), a date written ``2024/01/05`` for ``2024-01-05``, or a
  trailing ideographic space; bit 0 a trailing ASCII space. A variant is a new group to
  ``groupby`` and a miss to ``==``, so only free text is marked: a column whose values a buyer
  would group, filter or join by (a category, a date, a key) is not (rules 2, below).

Identity columns are never marked. How a plan is derived from the data is versioned
(:data:`PLAN_RULES`): a plan is recomputed at detection, so detection tries every rule under which
copies were delivered. Rules 1 (until December 2026) marked every text column and judged a
column's decimals with a relative tolerance (amounts in the millions read as whole or one-decimal
numbers); rules 2 mark free text only and judge decimals exactly; rules 3 (from December 2026)
mark more rows of a small product (:func:`gamma_for`), so that a tenth of it still names its
recipient.

Everything here works on Arrow record batches with NumPy and ``pyarrow.compute``: no Python loop
runs per row. The row fingerprint is a hash of our own over the normalised bytes, so a copy
delivered today is still recognised after a library upgrade.
Detection is in ``delivery/detection.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FORMAT_VERSION = b"qianshu/watermark/v1"
_MAX_DECIMALS = 6
# The rules that turn a policy and the product's first rows into a plan, newest first: copies are
# delivered under the first, and detection tries each (see the module's doc).
PLAN_RULES = (3, 2, 1)
# Rules 3: a product small enough to fit the plan's sample (its every row is known to the plan)
# has one row in gamma marked only while a tenth of its rows still carries this many marks in all
# its marked columns; fewer rows mark more often (down to one row in two, so that most values of a
# column stay exact). 26 agreeing marks name one of 50 candidates at alpha = 1e-6; 64 leaves room
# for rounding and mixing, which drop some.
SUBSET_SHARE = 0.1
SUBSET_MARKS = 64
MIN_GAMMA = 2
# Rules 2 mark a text column only where a buyer would not group or filter by it: at least half of
# its values distinct (no category, no date of a few hundred days), and not a key (below the share
# that makes a column identify rows).
FREE_TEXT_MIN_SHARE = 0.5
KEY_MIN_SHARE = 0.9
# How much of the original data decides a plan (decimals of each numeric column, the identity
# chosen when the seller named none): the same first rows at delivery and at detection.
PLAN_SAMPLE_ROWS = 100_000
FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
IDEOGRAPHIC_SPACE = "\u3000"


def recipient_secret(exchange_secret: str | bytes, contract_id: str) -> bytes:
    """The watermark secret of one recipient: HMAC-SHA256 of the exchange's secret and the contract id."""
    key = exchange_secret.encode() if isinstance(exchange_secret, str) else exchange_secret
    return hmac.new(key, FORMAT_VERSION + b"\x00" + contract_id.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class WatermarkKey:
    """One candidate recipient: the id a detection names, and the secret its copies carry."""

    key_id: str
    secret: bytes
    label: str = ""

    @classmethod
    def for_contract(cls, exchange_secret: str | bytes, contract_id: str, label: str = "") -> WatermarkKey:
        return cls(contract_id, recipient_secret(exchange_secret, contract_id), label)

    def words(self) -> tuple[np.uint64, np.uint64]:
        digest = hashlib.sha256(b"words\x00" + self.secret).digest()
        return np.uint64(int.from_bytes(digest[:8], "little")), np.uint64(int.from_bytes(digest[8:16], "little"))


@dataclass(frozen=True)
class WatermarkPolicy:
    """What the seller allows: the identifying columns, each numeric column's tolerance (absolute,
    in the column's units), and how many rows carry a mark (one in ``gamma`` per column)."""

    identity: tuple[str, ...] = ()
    tolerances: Mapping[str, float] = field(default_factory=dict)
    # Without a tolerance of the seller's, a decimal column moves by this many units of its last
    # digit (5: 12.34 becomes 12.29 or 12.39); an integer column does not move.
    default_tolerance_units: int = 5
    mark_text: bool = True
    exclude: tuple[str, ...] = ()
    gamma: int = 10
    # Keyed decoy rows per delivered copy (delivery/decoys.py), where the seller allows them.
    decoys: int = 0


@dataclass(frozen=True)
class ColumnMark:
    name: str
    kind: str  # numeric | text
    salt: int
    decimals: int = 0
    step: float = 0.0


@dataclass(frozen=True)
class WatermarkPlan:
    """A policy resolved against the product's data: identity, marked columns, steps."""

    identity: tuple[str, ...]
    columns: tuple[ColumnMark, ...]
    gamma: int

    def column(self, name: str) -> ColumnMark | None:
        return next((c for c in self.columns if c.name == name), None)


class NoIdentity(ValueError):
    """No column identifies the rows, and the seller named none."""


# ---------------------------------------------------------------- hashing (vectorised, stable)

def _mix(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: a bijection whose every output bit depends on every input bit."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(33))
        h = h * np.uint64(0xFF51AFD7ED558CCD)
        h = h ^ (h >> np.uint64(33))
        h = h * np.uint64(0xC4CEB9FE1A85EC53)
        mixed: np.ndarray = h ^ (h >> np.uint64(33))
        return mixed


def _multipliers() -> np.ndarray:
    raw = b"".join(hashlib.sha256(FORMAT_VERSION + i.to_bytes(4, "little")).digest() for i in range(256))
    return np.frombuffer(raw, dtype=np.uint64) | np.uint64(1)  # 1,024 odd words


_POSITION_MULTIPLIERS = _multipliers()
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def salt_of(name: str) -> int:
    return int.from_bytes(hashlib.sha256(FORMAT_VERSION + b"\x00column\x00" + name.encode()).digest()[:8], "little")


def fingerprint_strings(values: pa.Array) -> np.ndarray:
    """A 64-bit fingerprint of each string (no key): a sum of its bytes times position
    multipliers, finalised. Nulls must have been replaced."""
    arr = values.cast(pa.large_string()) if values.type != pa.large_string() else values
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data_buffer = arr.buffers()[2]
    start, end = int(offsets[0]), int(offsets[-1])
    lengths = np.diff(offsets)
    sums = np.zeros(n, dtype=np.uint64)
    if end > start:
        data = np.frombuffer(data_buffer, dtype=np.uint8)[start:end]
        width = int(lengths[0])
        if 0 < width <= 1024 and np.all(lengths == width):
            # Every value has the same length (codes, identifiers): one matrix product-sum, no repeat.
            matrix = data.reshape(n, width)
            with np.errstate(over="ignore"):
                for position in range(width):  # a column at a time: small temporaries that stay in cache
                    sums += (matrix[:, position].astype(np.uint64) + np.uint64(1)) * _POSITION_MULTIPLIERS[position]
        else:
            wide = data.astype(np.uint64) + np.uint64(1)
            relative = offsets[:-1] - start
            positions = np.arange(end - start, dtype=np.int64) - np.repeat(relative, lengths)
            with np.errstate(over="ignore"):
                terms = wide * _POSITION_MULTIPLIERS[positions & 1023]
            nonempty = lengths > 0
            sums[nonempty] = np.add.reduceat(terms, relative[nonempty])
    with np.errstate(over="ignore"):
        return _mix(sums ^ (lengths.astype(np.uint64) * _GOLDEN))


def canonical_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The text a value keeps through CSV, XLSX and Parquet: NFKC (full-width → half-width),
    trimmed, integral numbers without ``.0``, nulls as empty strings."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    kind = values.type
    if pa.types.is_dictionary(kind):
        values = values.cast(kind.value_type)
        kind = values.type
    text = values if pa.types.is_string(kind) or pa.types.is_large_string(kind) else values.cast(pa.string())
    text = pc.utf8_trim_whitespace(pc.utf8_normalize(text, "NFKC"))
    if _has_byte(text, 0x2E):  # the regex only where it can match (a "."): it is slow
        text = pc.replace_substring_regex(text, r"^(-?\d+)\.0+$", r"\1")
    return pc.fill_null(text, "").cast(pa.large_string())


def _has_byte(values: pa.Array, byte: int) -> bool:
    data = values.buffers()[2]
    return data is not None and bool((np.frombuffer(data, dtype=np.uint8) == byte).any())


def row_fingerprints(columns: Sequence[pa.Array | pa.ChunkedArray]) -> np.ndarray:
    """The fingerprint of each row's identity (the canonical texts of its identifying columns)."""
    return text_fingerprints([canonical_text(c) for c in columns])


def text_fingerprints(texts: Sequence[pa.Array]) -> np.ndarray:
    """The fingerprint of each row of identifying columns already in their canonical text."""
    # The separator as large_string too: Arrow has no kernel mixing large_string and string.
    joined = texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, pa.scalar("\x1f", pa.large_string()))
    return fingerprint_strings(joined)


def keyed_rows(fingerprints: np.ndarray, key: WatermarkKey) -> np.ndarray:
    """The keyed hash of each row: two rounds of the finaliser around the key's two words."""
    k0, k1 = key.words()
    with np.errstate(over="ignore"):
        return _mix(_mix(fingerprints ^ k0) + k1)


def column_hash(rows: np.ndarray, salt: int) -> np.ndarray:
    """One column's hash of each row, from the rows' keyed hashes (one more round with its salt)."""
    return _mix(rows ^ np.uint64(salt))


def keyed_hash(fingerprints: np.ndarray, key: WatermarkKey, salt: int) -> np.ndarray:
    return column_hash(keyed_rows(fingerprints, key), salt)


def selection(hashes: np.ndarray, gamma: int) -> tuple[np.ndarray, np.ndarray]:
    """Which rows carry a mark (the high half of the hash below 2^32/gamma: one in gamma) and
    their bits (the lowest bit). A comparison, not a 64-bit modulo, which costs ten times more."""
    chosen = (hashes >> np.uint64(32)) < np.uint64((1 << 32) // gamma)
    return chosen, (hashes & np.uint64(1)).astype(bool)


# ---------------------------------------------------------------- plans

def decimals_of(values: np.ndarray, *, lowest: int = 0) -> int:
    """The fewest decimals (from ``lowest``, which may be negative: tens, hundreds) that write every
    value exactly: each value equals itself rounded to them, up to the float's own rounding error
    (a few units of its last binary place), whatever its size."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return max(lowest, 0)
    slack = 16 * np.spacing(np.abs(finite))
    for decimals in range(lowest, _MAX_DECIMALS + 1):
        if np.all(np.abs(finite - np.round(finite, decimals)) <= slack):
            return decimals
    return _MAX_DECIMALS


def decimals_of_rules_1(values: np.ndarray) -> int:
    """How rules 1 judged decimals (a tolerance relative to the value: 1,234,567.85 read as having
    none). Kept only to recompute the plans, and the decoy rows, of copies delivered under them."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0
    for decimals in range(0, _MAX_DECIMALS + 1):
        scaled = finite * 10.0 ** decimals
        if np.all(np.abs(scaled - np.rint(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return decimals
    return _MAX_DECIMALS


def is_free_text(values: pa.Array | pa.ChunkedArray) -> bool:
    """Whether a buyer would not group, filter or join by a text column: at least
    :data:`FREE_TEXT_MIN_SHARE` of its non-empty values distinct, and fewer than
    :data:`KEY_MIN_SHARE` (a column that identifies rows may be a key)."""
    nonempty = pc.filter(values, pc.greater(pc.fill_null(pc.utf8_length(values), 0), 0))
    if len(nonempty) == 0:
        return False
    share = len(pc.unique(nonempty)) / len(nonempty)
    return FREE_TEXT_MIN_SHARE <= share < KEY_MIN_SHARE


def _numeric(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))


def _text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


IDENTITY_PAIR_COLUMNS = 8  # the pairs tried when no column identifies the rows alone are of the best eight


def choose_identity(sample: pa.Table) -> tuple[str, ...]:
    """The column that best identifies rows (most distinct values among text and integer
    columns, at least 90 % distinct); when none does alone, the first pair of the best columns
    (in order of their distinct values) that does. Not only the two best: in a table of stations
    by day, a weather column of seven values outscores the six stations, and (day, weather)
    identifies nothing while (day, station) identifies every row."""
    scored = []
    for name in sample.column_names:
        kind = sample.schema.field(name).type
        if _text(kind) or pa.types.is_integer(kind) or pa.types.is_date(kind):
            distinct = len(pc.unique(sample.column(name)))
            scored.append((distinct, name))
    scored.sort(key=lambda item: -item[0])
    rows = max(sample.num_rows, 1)
    if scored and scored[0][0] >= 0.9 * rows:
        return (scored[0][1],)
    best = [name for _, name in scored[:IDENTITY_PAIR_COLUMNS]]
    for i, first in enumerate(best):
        for second in best[i + 1:]:
            if len(np.unique(row_fingerprints([sample.column(first), sample.column(second)]))) >= 0.9 * rows:
                return (first, second)
    raise NoIdentity("no column identifies the rows")


def make_plan(sample: pa.Table, policy: WatermarkPolicy, rules: int = PLAN_RULES[0]) -> WatermarkPlan:
    """Resolve ``policy`` against the first rows of the product's data (the same rows at delivery
    and at detection, so the plan is the same) under ``rules`` (:data:`PLAN_RULES`)."""
    if rules not in PLAN_RULES:
        raise ValueError(f"no watermark rules {rules}")
    names = sample.column_names
    for name in (*policy.identity, *policy.tolerances):
        if name not in names:
            raise KeyError(name)
    identity = policy.identity or choose_identity(sample)
    columns = []
    for name in names:
        if name in identity or name in policy.exclude:
            continue
        kind = sample.schema.field(name).type
        if _numeric(kind):
            values = pc.fill_null(sample.column(name).cast(pa.float64()), np.nan).to_numpy()
            judge = decimals_of if rules >= 2 else decimals_of_rules_1
            decimals = judge(values) if pa.types.is_floating(kind) else 0
            unit = 10.0 ** -decimals
            # Integers (counts, codes) move only where the seller gives a tolerance.
            default = policy.default_tolerance_units * unit if pa.types.is_floating(kind) else 0.0
            tolerance = policy.tolerances.get(name, default)
            units = int(np.floor(tolerance / unit + 1e-9))
            if units >= 1:
                columns.append(ColumnMark(name, "numeric", salt_of(name), decimals, round(units * unit, decimals)))
        elif _text(kind) and policy.mark_text and (rules < 2 or is_free_text(sample.column(name))):
            columns.append(ColumnMark(name, "text", salt_of(name)))
    gamma = policy.gamma if rules < 3 else gamma_for(sample.num_rows, len(columns), policy.gamma)
    return WatermarkPlan(tuple(identity), tuple(columns), gamma)


def gamma_for(rows: int, marked_columns: int, gamma: int) -> int:
    """One row in how many is marked under rules 3: the seller's ``gamma`` for a product of more
    rows than the plan's sample (a tenth of 100,000 rows carries thousands of marks), fewer for a
    small one (see :data:`SUBSET_MARKS`)."""
    if rows >= PLAN_SAMPLE_ROWS or marked_columns == 0:
        return gamma
    return max(min(gamma, MIN_GAMMA), min(gamma, int(rows * SUBSET_SHARE * marked_columns // SUBSET_MARKS)))


# ---------------------------------------------------------------- embedding

def widen_digits(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Each string with its ASCII digits full-width (``12`` → ``１２``), and whether it had any.

    Done on the UTF-8 bytes: an ASCII digit byte is never part of a longer character, and each
    becomes the three bytes of U+FF10 … U+FF19."""
    arr = values.cast(pa.large_string()) if values.type != pa.large_string() else values
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[start:end] if end > start else np.zeros(0, np.uint8)
    digit = (data >= 0x30) & (data <= 0x39)
    counts = np.where(digit, 3, 1)
    out = np.repeat(data, counts)
    first = (np.cumsum(counts) - counts)[digit]
    out[first] = 0xEF
    out[first + 1] = 0xBC
    out[first + 2] = data[digit] + np.uint8(0x90 - 0x30)
    before = np.concatenate([[0], np.cumsum(digit, dtype=np.int64)])
    relative = offsets - start
    widened = relative + 2 * before[relative]
    result = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(widened.astype(np.int64)),
                                                          pa.py_buffer(out)])
    if arr.null_count:
        result = pc.if_else(arr.is_valid(), result, pa.scalar(None, pa.large_string()))
    return result, before[relative[1:]] > before[relative[:-1]]


def text_forms(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """The two marked forms of each text value: (bit 0, bit 1)."""
    values = values.cast(pa.large_string())
    is_date = pc.match_substring_regex(values, ISO_DATE)
    wide, has_digit = widen_digits(values)
    slashed = pc.replace_substring(values, "-", "/")
    nothing = pa.scalar("", pa.large_string())
    spaced = pc.binary_join_element_wise(values, pa.scalar(IDEOGRAPHIC_SPACE, pa.large_string()), nothing)
    one = pc.if_else(is_date, slashed, pc.if_else(pa.array(has_digit), wide, spaced))
    zero = pc.if_else(is_date, values, pc.binary_join_element_wise(values, pa.scalar(" ", pa.large_string()), nothing))
    return zero, one


def _mark_numeric(values: pa.Array, chosen: np.ndarray, bits: np.ndarray, mark: ColumnMark) -> pa.Array:
    usable = chosen if values.null_count == 0 else chosen & ~np.asarray(
        values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if not usable.any():
        return values
    index = np.flatnonzero(usable)
    picked = values.take(pa.array(index)).to_numpy(zero_copy_only=False)
    sign = np.where(bits[index], 1.0, -1.0)
    if pa.types.is_integer(values.type):
        moved = picked + (sign * mark.step).astype(picked.dtype)
    else:
        moved = picked + sign * mark.step
        # A value written with the plan's decimals keeps them (12.34 + 0.05 is 12.39, not 12.389999…).
        tidy = np.abs(picked - np.round(picked, mark.decimals)) <= 1e-9 * np.maximum(1.0, np.abs(picked))
        moved = np.where(tidy, np.round(moved, mark.decimals), moved)
    return pc.replace_with_mask(values, pa.array(usable), pa.array(moved, type=values.type))


def _mark_text(values: pa.Array, chosen: np.ndarray, bits: np.ndarray) -> pa.Array:
    index = np.flatnonzero(chosen)
    picked = values.take(pa.array(index))
    lengths = pc.fill_null(pc.binary_length(picked), 0).to_numpy(zero_copy_only=False)
    keep = lengths > 0  # an empty or missing value stays as it is
    if not keep.any():
        return values
    index, picked = index[keep], picked.filter(pa.array(keep))
    usable = np.zeros(len(values), dtype=bool)
    usable[index] = True
    zero, one = text_forms(picked)
    moved = pc.if_else(pa.array(bits[index]), one, zero)
    return pc.replace_with_mask(values, pa.array(usable), moved.cast(values.type))


def watermark_batch(batch: pa.RecordBatch, plan: WatermarkPlan, key: WatermarkKey) -> pa.RecordBatch:
    """The batch with this recipient's marks."""
    rows = keyed_rows(row_fingerprints([batch.column(name) for name in plan.identity]), key)
    arrays = list(batch.columns)
    for mark in plan.columns:
        position = batch.schema.get_field_index(mark.name)
        chosen, bits = selection(column_hash(rows, mark.salt), plan.gamma)
        column = arrays[position]
        arrays[position] = (_mark_numeric(column, chosen, bits, mark) if mark.kind == "numeric"
                            else _mark_text(column, chosen, bits))
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


def watermark_batches(batches: Iterable[pa.RecordBatch], plan: WatermarkPlan, key: WatermarkKey,
                      threads: int | None = None) -> Iterator[pa.RecordBatch]:
    """The batches marked, in order. NumPy and Arrow's kernels release the GIL, so batches are
    marked on a few threads while the caller reads and writes (at most two per thread in flight)."""
    workers = threads or min(4, os.cpu_count() or 1)
    if workers <= 1:
        for batch in batches:
            yield watermark_batch(batch, plan, key)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="watermark") as pool:
        pending: deque[Future[pa.RecordBatch]] = deque()
        for batch in batches:
            pending.append(pool.submit(watermark_batch, batch, plan, key))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
