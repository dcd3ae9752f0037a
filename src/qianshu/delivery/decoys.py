"""Keyed decoy rows: a few made-up rows in each delivered copy, derived from the contract's secret,
that name the contract when they turn up in a leaked file.

The watermark (``watermark.py``) moves values of real rows; a decoy is a whole row that exists in no
other copy. Each decoy is derived from ``HMAC-SHA256(recipient secret, "qianshu/decoy/v1" ‖ j ‖
column)``, where the recipient secret is already the HMAC of the installation's secret and the
contract number (``watermark.recipient_secret``): nothing is stored per copy, and a trace
regenerates the decoys of every candidate contract.

A decoy looks like the product's rows (its :class:`DecoyModel` is made from the same first rows as
the watermark's plan): a text value is a real value of the column whose ASCII letters and digits
after the column's common prefix are replaced by keyed ones (``5201000000123`` → ``5201083946271``,
``幸福路12号`` → ``幸福路87号``), a date written as text is a keyed date within the column's range, a
number a keyed number within the column's range with its decimals (an identifying integer a new
one above the largest), anything else a real value picked by the key. Each cell carries the bits
of the keyed choice (``log2`` of the number of values it could have taken); a text without letters
or digits carries none.

**Tracing** (:func:`trace_decoys`) looks for the decoys' cells in any column of a suspect file (the
file's columns are matched by content, so dropping, renaming and reordering columns do not
matter), and scores each suspect row against each decoy by the bits of the decoy's cells the row
holds. A decoy is found when a row holds at least ``log2(decoys tested × rows / alpha)`` bits of
it: under the model that an unrelated row's values are independent of the key (each cell matching
with chance 2^-bits), the chance that any row matches any decoy that well by accident is at most
``alpha``. A contract is named when one of its decoys is found; the bound is reported. Decoys help
only while they are in the file: a leak of a subset keeps each decoy with the subset's share.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from qianshu.delivery.watermark import WatermarkKey, canonical_text, decimals_of, decimals_of_rules_1

DECOY_VERSION = b"qianshu/decoy/v1"
# How a model judges a decimal column's decimals, newest first: copies get decoys of the first,
# and tracing regenerates each (rules 1, until December 2026, read amounts in the millions as
# whole yuan, so a decoy of 3,456,789 stood out among 3,456,789.12 and its neighbours).
# Rules 3 (December 2026) make a decoy a row a buyer cannot tell from the others: the columns a
# buyer groups by (a district's name and code, a kind; at most 1,000 values, fewer than half of
# the rows distinct) take the values of one real row together, so a code matches its name; a month
# written YYYY-MM is a month of the column's range (rules 2 scrambled its digits: 2048-90); and an
# integer that identifies rows only with other columns (a count beside a month) stays within its
# column's range (rules 2 put it above the largest, far outside the real values).
DECOY_RULES = (3, 2, 1)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_CATEGORY_VALUES = 1_000
MAX_DECOYS = 100
_TEMPLATES = 1_000  # distinct values of a text column a decoy may start from
_MIN_MUTATED = 4
_STRONG_BITS = 12.0  # a text keeps at most its common prefix; at least this many characters are keyed
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DIGITS, _LOWER, _UPPER = "0123456789", "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class DecoyColumn:
    name: str
    kind: str  # text | date | integer | decimal | pick
    templates: tuple[str, ...] = ()  # text: real values; pick: real values (as Python objects' texts)
    prefix: int = 0  # text: characters kept from each template (the column's common prefix)
    low: float = 0.0
    high: float = 0.0
    decimals: int = 0
    picks: tuple[object, ...] = ()
    avoid: frozenset[str] = frozenset()  # an identifying text column's values: a decoy takes none of them


@dataclass(frozen=True)
class DecoyModel:
    """How a product's decoy rows look, made from its first rows (as the watermark's plan is)."""

    schema: pa.Schema
    columns: tuple[DecoyColumn, ...]
    count: int  # decoy rows per copy (the seller's choice; 0: none)
    template_rows: int = 0  # rules 3: the real rows whose grouping values a decoy takes together


def _common_prefix(values: Sequence[str]) -> int:
    """How many leading characters every value shares (characters, not path components)."""
    if not values:
        return 0
    low, high = min(values), max(values)  # the lexicographic extremes bound every common prefix
    shared = 0
    while shared < min(len(low), len(high)) and low[shared] == high[shared]:
        shared += 1
    return shared


def make_model(sample: pa.Table, identity: Sequence[str], count: int, rules: int = DECOY_RULES[0]) -> DecoyModel:
    if rules not in DECOY_RULES:
        raise ValueError(f"no decoy rules {rules}")
    columns = []
    # rules 3: the real rows a decoy's grouping values come from, spread over the sample
    rows = pa.array(range(0, sample.num_rows, max(1, sample.num_rows // _TEMPLATES)))[:_TEMPLATES]
    for name in sample.column_names:
        column = sample.column(name)
        kind = column.type
        valid = column.drop_null()
        text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        values = pc.unique(valid) if text or pa.types.is_integer(kind) else None
        # identifying columns keep their keyed values: they carry the bits that name the contract
        if (rules >= 3 and name not in identity and values is not None
                and 0 < len(values) <= _CATEGORY_VALUES and len(values) < 0.5 * len(valid)):
            columns.append(DecoyColumn(name, "row", picks=tuple(column.take(rows).to_pylist())))
            continue
        distinct = [v for v in values.to_pylist() if v] if text and values is not None else []
        if rules >= 3 and distinct and all(_MONTH.match(v) for v in distinct):
            ordinals = [int(v[:4]) * 12 + int(v[5:]) - 1 for v in distinct]
            columns.append(DecoyColumn(name, "month", low=min(ordinals), high=max(ordinals)))
            continue
        if text:
            if distinct and all(_ISO.match(v) for v in distinct):
                days = [date.fromisoformat(v).toordinal() for v in distinct]
                columns.append(DecoyColumn(name, "date", low=min(days), high=max(days)))
            else:
                # Templates spread over the sample; the prefix every value shares is kept as it is.
                step = max(1, len(distinct) // _TEMPLATES)
                prefix = _common_prefix(distinct) if len(distinct) > 1 else 0
                columns.append(DecoyColumn(name, "text", tuple(distinct[::step][:_TEMPLATES]), prefix,
                                           avoid=frozenset(distinct) if name in identity else frozenset()))
        elif pa.types.is_integer(kind) and len(valid):
            low, high = pc.min_max(valid).as_py().values()
            if name in identity and (rules < 3 or len(identity) == 1):  # a new identifier, above those in use
                low, high = high + 1, high + max(high - low + 1, 1000)
            columns.append(DecoyColumn(name, "integer", low=float(low), high=float(high)))
        elif pa.types.is_floating(kind) and len(valid):
            values = valid.to_numpy(zero_copy_only=False)
            finite = values[np.isfinite(values)]
            if finite.size:
                # Exactly the decimals the column is written with (rules 2); tracing regenerates
                # the decoys of copies delivered under rules 1 with the decimals those had.
                judge = decimals_of if rules >= 2 else decimals_of_rules_1
                columns.append(DecoyColumn(name, "decimal", low=float(finite.min()), high=float(finite.max()),
                                           decimals=judge(finite)))
            else:
                columns.append(DecoyColumn(name, "pick", picks=(None,)))
        else:
            picks = tuple(dict.fromkeys(valid.to_pylist()))[:_TEMPLATES] or (None,)
            columns.append(DecoyColumn(name, "pick", picks=picks))
    return DecoyModel(sample.schema, tuple(columns), max(0, min(count, MAX_DECOYS)),
                      len(rows) if any(c.kind == "row" for c in columns) else 0)


# ---------------------------------------------------------------- derivation


def _stream(key: WatermarkKey, index: int, column: str) -> Iterator[int]:
    """Keyed bytes for decoy ``index``'s cell in ``column`` (HMAC-SHA256 in counter mode)."""
    base = DECOY_VERSION + b"\x00" + index.to_bytes(4, "big") + b"\x00" + column.encode()
    counter = 0
    while True:
        yield from hmac.new(key.secret, base + counter.to_bytes(4, "big"), hashlib.sha256).digest()
        counter += 1


def _uniform(stream: Iterator[int], n: int) -> int:
    """A keyed whole number in [0, n), without modulo bias (rejection over 64-bit draws)."""
    if n <= 1:
        return 0
    limit = (1 << 64) - ((1 << 64) % n)
    while True:
        value = int.from_bytes(bytes(next(stream) for _ in range(8)), "big")
        if value < limit:
            return value % n


def _mutate(template: str, keep: int, stream: Iterator[int]) -> tuple[str, float]:
    """``template`` with its ASCII letters and digits after ``keep`` characters replaced by keyed
    ones of the same class (at least half of them and ``_MIN_MUTATED``, fewer only when it has fewer)."""
    positions = [i for i, ch in enumerate(template) if ch.isascii() and ch.isalnum()]
    after = [i for i in positions if i >= keep]
    least = max(_MIN_MUTATED, (len(positions) + 1) // 2)
    chosen = after if len(after) >= least else positions[-least:]
    chars, bits = list(template), 0.0
    for i in chosen:
        alphabet = _DIGITS if template[i].isdigit() else (_LOWER if template[i].islower() else _UPPER)
        chars[i] = alphabet[_uniform(stream, len(alphabet))]
        bits += math.log2(len(alphabet))
    return "".join(chars), bits


@dataclass(frozen=True)
class Decoy:
    """One decoy row of one recipient: its values (in the schema's order) and, per cell, the
    canonical text a suspect file shows and the bits of the keyed choice."""

    key_id: str
    index: int
    position: int  # the original row it is placed before (a copy's row count when after the last)
    values: tuple[object, ...]
    cells: tuple[tuple[str, float], ...]


def _cell(column: DecoyColumn, stream: Iterator[int]) -> tuple[object, float]:
    if column.kind == "text":
        if not column.templates:
            return None, 0.0
        for _attempt in range(16):
            template = column.templates[_uniform(stream, len(column.templates))]
            value, bits = _mutate(template, column.prefix, stream)
            if value not in column.avoid:
                break
        return value, bits
    if column.kind == "date":
        span = int(column.high - column.low) + 1
        day = date.fromordinal(int(column.low) + _uniform(stream, span))
        return day.isoformat(), math.log2(span)
    if column.kind == "month":
        span = int(column.high - column.low) + 1
        month = int(column.low) + _uniform(stream, span)
        return f"{month // 12:04d}-{month % 12 + 1:02d}", math.log2(span)
    if column.kind == "integer":
        span = int(column.high - column.low) + 1
        return int(column.low) + _uniform(stream, span), math.log2(span)
    if column.kind == "decimal":
        scale = 10 ** column.decimals
        low, high = round(column.low * scale), round(column.high * scale)
        span = max(high - low + 1, 1)
        value = (low + _uniform(stream, span)) / scale
        return round(value, column.decimals), math.log2(span)
    return column.picks[_uniform(stream, len(column.picks))], 0.0


def decoys_for(model: DecoyModel, key: WatermarkKey, total_rows: int) -> list[Decoy]:
    """The recipient's decoy rows, each with the original row it goes before (sorted by it)."""
    found = []
    for index in range(model.count):
        values, cells = [], []
        # rules 3: the grouping columns all take the values of one real row (a code with its name)
        row = _uniform(_stream(key, index, "\x00row"), model.template_rows) if model.template_rows else 0
        for column in model.columns:
            value, bits = ((column.picks[row], 0.0) if column.kind == "row"
                           else _cell(column, _stream(key, index, column.name)))
            values.append(value)
            cells.append((_canonical(value), bits))
        position = _uniform(_stream(key, index, "\x00position"), total_rows + 1)
        found.append(Decoy(key.key_id, index, position, tuple(values), tuple(cells)))
    return sorted(found, key=lambda d: (d.position, d.index))


def _canonical(value: object) -> str:
    """The text a suspect file shows for ``value`` (as ``watermark.canonical_text`` makes it)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return unicodedata.normalize("NFKC", value).strip()
    if isinstance(value, bool):
        return str(canonical_text(pa.array([value]))[0].as_py())
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return str(canonical_text(pa.array([value]))[0].as_py())


def _batch(model: DecoyModel, decoys: Sequence[Decoy], schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for position, field in enumerate(schema):
        values = [d.values[position] for d in decoys]
        try:
            arrays.append(pa.array(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            arrays.append(pa.array(values).cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def with_decoys(batches: Iterable[pa.RecordBatch], model: DecoyModel, key: WatermarkKey,
                total_rows: int) -> Iterator[pa.RecordBatch]:
    """The batches with the recipient's decoys put in their places (each before its original row;
    those placed after the last row at the end)."""
    decoys = decoys_for(model, key, total_rows) if model.count else []
    start, waiting = 0, 0
    for batch in batches:
        end = start + batch.num_rows
        here = []
        while waiting < len(decoys) and decoys[waiting].position < end:
            here.append(decoys[waiting])
            waiting += 1
        if not here:
            yield batch
        else:
            pieces, offset = [], 0
            for decoy in here:
                cut = max(decoy.position - start, 0)
                if cut > offset:
                    pieces.append(batch.slice(offset, cut - offset))
                    offset = cut
                pieces.append(_batch(model, [decoy], batch.schema))
            if offset < batch.num_rows:
                pieces.append(batch.slice(offset))
            yield pa.concat_batches(pieces)
        start = end
    if waiting < len(decoys):
        yield _batch(model, decoys[waiting:], model.schema)


# ---------------------------------------------------------------- tracing


@dataclass(frozen=True)
class FoundDecoy:
    key_id: str
    label: str
    index: int
    row: int  # the suspect file's row (0-based, after its header)
    bits: float
    cells: int


@dataclass(frozen=True)
class DecoyTrace:
    named: tuple[str, ...]  # contracts whose decoys are in the file (one, unless copies were merged)
    found: tuple[FoundDecoy, ...]
    decoys_tested: int
    rows_in_file: int
    threshold_bits: float
    alpha: float
    false_positive_bound: float  # the chance of this many bits in any row by accident


def threshold_bits(decoys_tested: int, rows: int, alpha: float) -> float:
    return math.log2(max(decoys_tested, 1) * max(rows, 1) / alpha)


def trace_decoys(suspect: pa.Table, models: DecoyModel | Sequence[DecoyModel], keys: Sequence[WatermarkKey],
                 total_rows: int, alpha: float) -> DecoyTrace:
    """Which candidates' decoys are in ``suspect`` (a table of text columns, as read by
    ``files.read_suspect``), under each model copies were delivered with (:data:`DECOY_RULES`):
    every distinct decoy of every model counts in the threshold."""
    rows = suspect.num_rows
    wanted: dict[str, list[tuple[int, float]]] = {}  # canonical text → (decoy number, bits)
    every: list[tuple[WatermarkKey, Decoy]] = []
    seen: set[tuple[str, tuple[tuple[str, float], ...]]] = set()
    for key in keys:
        for decoy in (d for model in ([models] if isinstance(models, DecoyModel) else models)
                      for d in decoys_for(model, key, total_rows)):
            if (key.key_id, decoy.cells) in seen:  # the same decoy under both rules: tested once
                continue
            seen.add((key.key_id, decoy.cells))
            number = len(every)
            every.append((key, decoy))
            for text, bits in dict(decoy.cells).items():
                if bits > 0 and text:
                    wanted.setdefault(text, []).append((number, bits))
    threshold = threshold_bits(len(every), rows, alpha)
    if not wanted or rows == 0:
        return DecoyTrace((), (), len(every), rows, threshold, alpha, 0.0)
    texts = [canonical_text(column) for column in suspect.columns]
    # Only rows holding a cell of many bits are looked at (a decoy found holds several of them).
    value_set = pa.array([text for text, entries in wanted.items() if max(b for _, b in entries) >= _STRONG_BITS],
                         pa.large_string())
    hit = np.zeros(rows, dtype=bool)
    for column in texts:
        hit |= np.asarray(pc.is_in(column, value_set=value_set).to_numpy(zero_copy_only=False), dtype=bool)
    best: dict[int, FoundDecoy] = {}
    for row in np.flatnonzero(hit).tolist():
        cells = {str(column[row].as_py()) for column in texts}
        scores: dict[int, tuple[float, int]] = {}
        for text in cells:
            for number, bits in wanted.get(text, ()):
                total, count = scores.get(number, (0.0, 0))
                scores[number] = (total + bits, count + 1)
        for number, (bits, count) in scores.items():
            if bits >= threshold and (number not in best or bits > best[number].bits):
                key, decoy = every[number]
                best[number] = FoundDecoy(key.key_id, key.label, decoy.index, row, bits, count)
    # One decoy (a contract's j-th) is one row of the file, whichever rules' model matched it best.
    each: dict[tuple[str, int], FoundDecoy] = {}
    for f in best.values():
        if (f.key_id, f.index) not in each or f.bits > each[(f.key_id, f.index)].bits:
            each[(f.key_id, f.index)] = f
    found = tuple(sorted(each.values(), key=lambda f: (-f.bits, f.key_id, f.index)))
    named = tuple(dict.fromkeys(f.key_id for f in found))
    weakest = min((f.bits for f in found), default=threshold)
    bound = min(1.0, len(every) * rows * 2.0 ** -weakest)
    return DecoyTrace(named, found, len(every), rows, threshold, alpha, bound)
