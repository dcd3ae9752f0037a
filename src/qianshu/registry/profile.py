"""Profile every column of the normalised Parquet with DuckDB.

Two passes over the Parquet, columns in batches (a file of 10,000 columns makes many small
queries rather than one huge one):

1. count of non-null values, distinct count (HyperLogLog estimate, ``approx_count_distinct``),
   min / max / mean, string length statistics, the most frequent values (``approx_top_k``),
   and the number of exact duplicate rows (an exact distinct count over row hashes);
2. a ten-bucket equi-width histogram for numbers, dates and timestamps, and the exact counts
   of the top values.

Type conformance of text columns (how many values would parse as a number or date) is
measured on a bounded uniform random sample (``SAMPLE_ROWS``), which the PII scan reuses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

SAMPLE_ROWS = 100_000
SAMPLE_SCALE = 1_000_000_000  # resolution of the sampling probability
SAMPLE_SEED = 42
BATCH = 40
WIDE = 300  # more columns than this: profile in long format (see _profile_long)
LONG_CHUNK = 2000  # columns a statement of the long format
BUCKETS = 10
TEXT_LIMIT = 200
NUMERIC = ("integer", "decimal")
TEMPORAL = ("date", "timestamp")


@dataclass
class ColumnStats:
    position: int
    name: str
    duck_type: str
    inferred_type: str
    null_count: int = 0
    null_rate: float = 0.0
    distinct_count: int = 0
    min_value: str | None = None
    max_value: str | None = None
    mean: float | None = None
    top_values: list[list[Any]] = field(default_factory=list)
    min_length: int | None = None
    max_length: int | None = None
    mean_length: float | None = None
    histogram: list[list[Any]] = field(default_factory=list)
    type_conformance: float = 1.0
    raw_min: Any = None
    raw_max: Any = None


@dataclass
class DatasetStats:
    row_count: int
    columns: list[ColumnStats]
    duplicate_rows: int
    latest_date: date | None = None


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def classify_type(duck_type: str) -> str:
    t = duck_type.upper()
    if t in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT",
             "UTINYINT", "UHUGEINT"):
        return "integer"
    if t in ("DOUBLE", "FLOAT", "REAL") or t.startswith("DECIMAL"):
        return "decimal"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    if t == "BOOLEAN":
        return "boolean"
    if t == "VARCHAR":
        return "text"
    return "other"


def _short(value: Any) -> str | None:
    if value is None:
        return None
    text = value.isoformat() if isinstance(value, date | datetime) else str(value)
    return text[:TEXT_LIMIT]


def describe(con: duckdb.DuckDBPyConnection, parquet: Path) -> list[ColumnStats]:
    """The columns in the file's order, from the bound relation: ``DESCRIBE``'s rows come in no set
    order beyond 2,048 columns on a connection that does not preserve insertion order (the
    pipeline's), which shuffled the columns of wide files."""
    relation = con.sql(f"SELECT * FROM read_parquet({literal(str(parquet))})")  # noqa: S608
    types = [str(t) for t in relation.types]
    return [ColumnStats(i, name, t, classify_type(t)) for i, (name, t) in enumerate(zip(relation.columns, types,
                                                                                         strict=True))]


def _first_pass_exprs(col: ColumnStats) -> list[str]:
    q = quote(col.name)
    kind = col.inferred_type
    exprs = [f"count({q})", f"approx_count_distinct({q})"]
    if kind in NUMERIC:
        exprs += [f"min({q})", f"max({q})", f"avg({q})::DOUBLE"]
    elif kind in TEMPORAL:
        exprs += [f"min({q})", f"max({q})", "NULL"]
    elif kind == "text":
        exprs += [f"left(min({q}), {TEXT_LIMIT})", f"left(max({q}), {TEXT_LIMIT})", "NULL",
                  f"min(length({q}))", f"max(length({q}))", f"avg(length({q}))::DOUBLE"]
    else:
        exprs += ["NULL", "NULL", "NULL"]
    return exprs


def _bounds(col: ColumnStats) -> list[float] | None:
    lo, hi = col.raw_min, col.raw_max
    if lo is None or hi is None:
        return None
    if isinstance(lo, datetime | date):
        lo_n = _epoch(lo)
        hi_n = _epoch(hi)
    else:
        lo_n, hi_n = float(lo), float(hi)
    if not (math.isfinite(lo_n) and math.isfinite(hi_n)) or hi_n <= lo_n:
        return None
    step = (hi_n - lo_n) / BUCKETS
    return [lo_n + step * (i + 1) for i in range(BUCKETS - 1)] + [hi_n]


def _epoch(value: date | datetime) -> float:
    if isinstance(value, datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=None).timestamp()
    return float((value - date(1970, 1, 1)).days * 86400)


def _label(col: ColumnStats, bound: float) -> Any:
    if col.inferred_type == "date":
        return date.fromordinal(date(1970, 1, 1).toordinal() + int(bound // 86400)).isoformat()
    if col.inferred_type == "timestamp":
        return datetime.fromtimestamp(bound).isoformat(timespec="seconds")
    return round(bound, 6)


def profile_parquet(con: duckdb.DuckDBPyConnection, parquet: Path,
                    progress: Any = None) -> DatasetStats:
    src = f"read_parquet({literal(str(parquet))})"
    columns = describe(con, parquet)
    total_row = con.execute(f"SELECT count(*) FROM {src}").fetchone()  # noqa: S608
    total = int(total_row[0]) if total_row else 0
    if len(columns) > WIDE:
        _profile_long(con, src, columns, total, progress)
        return DatasetStats(total, columns, 0, _latest(columns))
    batches = [columns[i:i + BATCH] for i in range(0, len(columns), BATCH)]
    for b, batch in enumerate(batches):
        if progress:
            progress(b / max(len(batches), 1) / 2)
        exprs: list[str] = []
        spans: list[tuple[int, int]] = []
        for col in batch:
            e = _first_pass_exprs(col)
            spans.append((len(exprs), len(e)))
            exprs += e
        row = con.execute(f"SELECT {', '.join(exprs)} FROM {src}").fetchone() or ()  # noqa: S608
        for col, (start, n) in zip(batch, spans, strict=True):
            _read_first_pass(col, list(row[start:start + n]), total)
    for b, batch in enumerate(batches):
        if progress:
            progress(0.5 + b / max(len(batches), 1) / 2)
        _second_pass(con, src, batch)
    duplicates = count_duplicate_rows(con, src, columns, total)
    return DatasetStats(total, columns, duplicates, _latest(columns))


def count_duplicate_rows(con: duckdb.DuckDBPyConnection, src: str, columns: list[ColumnStats],
                         total: int) -> int:
    """Rows that repeat an earlier row exactly: the row count minus the distinct 64-bit row
    hashes (a collision among 10M distinct rows has a probability of about 3e-6).

    ``hash(a, b, ...)`` over the columns, not ``hash(t)`` over the row as a struct: building
    the struct costs more than hashing (1.8 s → 1.1 s on 10M rows)."""
    if not total or not columns or len(columns) > 2000:
        return 0
    row_hash = f"hash({', '.join(quote(c.name) for c in columns)})"
    dup = con.execute(f"SELECT count(*) - count(DISTINCT {row_hash}) FROM {src}").fetchone()  # noqa: S608
    return int(dup[0]) if dup else 0


def _latest(columns: list[ColumnStats]) -> date | None:
    latest = None
    for col in columns:
        if col.inferred_type in TEMPORAL and col.raw_max is not None:
            d = col.raw_max.date() if isinstance(col.raw_max, datetime) else col.raw_max
            latest = d if latest is None or d > latest else latest
    return latest


def unpivot_chunks(columns: list[ColumnStats], size: int) -> list[tuple[str, list[ColumnStats]]]:
    """The columns in chunks of at most ``size`` that share a DuckDB type, each with that type.

    A chunk of one type is unpivoted as it is and its values cast once after, which DuckDB binds
    in about half the time of a cast per column."""
    by_type: dict[str, list[ColumnStats]] = {}
    for col in columns:
        by_type.setdefault(col.duck_type, []).append(col)
    return [(duck_type, members[i:i + size]) for duck_type, members in by_type.items()
            for i in range(0, len(members), size)]


def unpivot(chunk: list[ColumnStats], src: str, value: str, limit: int | None = None) -> str:
    """``(col, v)`` for the columns of ``chunk`` (one type) in the first ``limit`` rows of
    ``src`` (all: None), ``v`` being ``value``, an expression of the column's value ``v`` (a
    cast); null values left out."""
    select = ", ".join(quote(c.name) for c in chunk)
    rows = f" LIMIT {int(limit)}" if limit is not None else ""
    return (f"(SELECT col, {value} AS v FROM (UNPIVOT (SELECT {select} FROM {src}{rows}) "  # noqa: S608
            "ON COLUMNS(*) INTO NAME col VALUE v))")


def _profile_long(con: duckdb.DuckDBPyConnection, src: str, columns: list[ColumnStats], total: int,
                  progress: Any) -> None:
    """Wide data: the columns unpivoted into (col, v) and aggregated by column, ``LONG_CHUNK``
    columns of one type a statement.

    A statement with thousands of expressions costs DuckDB more to plan than to run, and each
    statement reads the Parquet file's footer again (10,000 columns: a fifth of a second): large
    chunks of columns without an expression each are the cheapest (10,000 columns: 100
    statements of 100 cast columns took 30 s, 5 of 2,000 about 2 s of CPU). Each column is in one chunk,
    so its aggregates are those of one GROUP BY over the whole. Duplicate rows are not counted
    for wide data.
    """
    casts = {"integer": "DOUBLE", "decimal": "DOUBLE", "date": "TIMESTAMP", "timestamp": "TIMESTAMP"}
    extras = {"DOUBLE": "min(v), max(v), avg(v), NULL, NULL, NULL",
              "TIMESTAMP": "min(v), max(v), NULL, NULL, NULL, NULL",
              "VARCHAR": f"left(min(v), {TEXT_LIMIT}), left(max(v), {TEXT_LIMIT}), NULL, min(length(v)), "
                         "max(length(v)), avg(length(v))"}
    by_name = {c.name: c for c in columns}
    chunks = unpivot_chunks(columns, LONG_CHUNK)
    for n, (_duck_type, chunk) in enumerate(chunks):
        if progress:
            progress(n / len(chunks))
        cast = casts.get(chunk[0].inferred_type, "VARCHAR")
        rows = con.execute(f"SELECT col, count(v), approx_count_distinct(v), {extras[cast]}, "  # noqa: S608
                           f"approx_top_k(v, 5) FROM {unpivot(chunk, src, f'v::{cast}')} GROUP BY col").fetchall()
        for row in rows:
            col = by_name[row[0]]
            values = list(row[1:6])
            if col.inferred_type == "text":
                values += list(row[6:9])
            if col.inferred_type in ("text", "integer", "boolean"):
                values.append(row[9])
            _read_first_pass(col, values, total)
        for col in chunk:
            if col.null_count == 0 and not col.raw_max and col.distinct_count == 0:
                col.null_count, col.null_rate = total, 1.0 if total else 0.0


def _read_first_pass(col: ColumnStats, values: list[Any], total: int) -> None:
    non_null = int(values[0] or 0)
    col.null_count = total - non_null
    col.null_rate = round(col.null_count / total, 6) if total else 0.0
    col.distinct_count = min(int(values[1] or 0), non_null)
    col.raw_min, col.raw_max = values[2], values[3]
    col.min_value, col.max_value = _short(values[2]), _short(values[3])
    col.mean = float(values[4]) if values[4] is not None and math.isfinite(float(values[4])) else None
    rest = values[5:]
    if col.inferred_type == "text":
        col.min_length, col.max_length = rest[0], rest[1]
        col.mean_length = round(float(rest[2]), 3) if rest[2] is not None else None
        rest = rest[3:]
    if rest:
        col.top_values = [[_short(v), None] for v in (rest[0] or [])]


def _second_pass(con: duckdb.DuckDBPyConnection, src: str, batch: list[ColumnStats]) -> None:
    exprs: list[str] = []
    plan: list[tuple[ColumnStats, str, Any]] = []
    for col in batch:
        q = quote(col.name)
        if col.inferred_type in NUMERIC + TEMPORAL:
            bounds = _bounds(col)
            if bounds:
                value = f"epoch({q})" if col.inferred_type in TEMPORAL else f"{q}::DOUBLE"
                exprs.append(f"histogram({value}, [{', '.join(repr(float(x)) for x in bounds)}]::DOUBLE[])")
                plan.append((col, "hist", bounds))
    if not exprs:
        return
    row = con.execute(f"SELECT {', '.join(exprs)} FROM {src}").fetchone() or ()  # noqa: S608
    for (col, _what, extra), value in zip(plan, row, strict=True):
        counts = value or {}
        lower = _epoch(col.raw_min) if col.inferred_type in TEMPORAL else float(col.raw_min)
        buckets = []
        for bound in extra:
            buckets.append([_label(col, lower), _label(col, bound), int(counts.get(bound, 0))])
            lower = bound
        col.histogram = buckets


def sample_top_values(con: duckdb.DuckDBPyConnection, columns: list[ColumnStats], sampled: int,
                      total: int, k: int = 5) -> None:
    """The most frequent values, counted on the sample and scaled to the whole (estimates).

    ``approx_top_k`` over the full data costs more than the rest of the profile together; the
    random sample gives the frequent values with counts at a fraction of that cost.
    """
    if not sampled or len(columns) > WIDE:
        return  # wide data: the long-format profile already took approx_top_k
    scale = total / sampled
    for col in columns:
        if col.inferred_type not in ("text", "integer", "boolean") and not col.inferred_type.startswith("text"):
            continue
        q = quote(col.name)
        rows = con.execute(f"SELECT {q}, count(*) AS n FROM registry_sample WHERE {q} IS NOT NULL "  # noqa: S608
                           f"GROUP BY {q} ORDER BY n DESC, {q} LIMIT {int(k)}").fetchall()
        col.top_values = [[_short(v), round(n * scale)] for v, n in rows if n > 1 or sampled == total]


def _castable(q: str, to: str) -> str:
    """``TRY_CAST`` for values that may parse: DuckDB reads a number or a date only after ASCII
    whitespace, a sign, a digit or a word (inf, nan, infinity, epoch), so a value that starts with
    any other character (Chinese text: most values of most text columns) is not tried; nor, for a
    date, a value that starts with a digit and holds none of the separators a date needs after its
    year (space, -, /, \\): resident IDs, account numbers, 20250101. A failed cast to DATE costs
    150-400 ns, which made it most of the conformance query (100,000 resident IDs: 40 → 6 ms)."""
    if to == "DATE":
        return (f"CASE WHEN ascii({q}) < 128 AND (ascii({q}) NOT BETWEEN 48 AND 57 OR contains({q}, '-') "
                f"OR contains({q}, '/') OR contains({q}, ' ') OR contains({q}, '\\')) "
                f"THEN TRY_CAST({q} AS DATE) END")
    return f"CASE WHEN ascii({q}) < 128 THEN TRY_CAST({q} AS {to}) END"


def measure_conformance(con: duckdb.DuckDBPyConnection, columns: list[ColumnStats]) -> None:
    """For text columns: does (nearly) every sampled value parse as a number or a date?"""
    text_cols = [c for c in columns if c.inferred_type == "text"]
    for i in range(0, len(text_cols), BATCH):
        batch = text_cols[i:i + BATCH]
        exprs = []
        for col in batch:
            q = quote(col.name)
            exprs += [f"count({q})", f"count({_castable(q, 'DOUBLE')})", f"count({_castable(q, 'DATE')})"]
        row = con.execute(f"SELECT {', '.join(exprs)} FROM registry_sample").fetchone() or ()  # noqa: S608
        for j, col in enumerate(batch):
            non_null, numeric, dates = (int(x or 0) for x in row[j * 3:j * 3 + 3])
            if not non_null:
                continue
            best = max(numeric, dates)
            share = best / non_null
            # Mostly numbers or dates, with a few that are not: the stray ones break conformance.
            if 0.9 <= share < 1.0:
                col.type_conformance = round(share, 6)
                col.inferred_type = "text (mostly number)" if numeric >= dates else "text (mostly date)"


def create_sample(con: duckdb.DuckDBPyConnection, parquet: Path, stats: DatasetStats,
                  rows: int = SAMPLE_ROWS) -> int:
    """A uniform random sample, smaller for wide tables (the sample's memory is rows x columns).

    Each row is kept with the same probability, decided by a hash of its position in the file:
    Bernoulli sampling that is reproducible and, unlike ``USING SAMPLE ... (bernoulli)``, runs
    as a parallel filter (0.5 s → 0.2 s on 10M rows). The size is ``rows`` on average, not
    exactly.
    """
    rows = min(rows, max(2048, 10_000_000 // max(len(stats.columns), 1)))
    con.execute("DROP TABLE IF EXISTS registry_sample")
    path = literal(str(parquet))
    if stats.row_count <= rows:
        con.execute(f"CREATE TEMP TABLE registry_sample AS SELECT * FROM read_parquet({path})")  # noqa: S608
    elif any(c.name.lower() == "file_row_number" for c in stats.columns):  # the name the option would add
        con.execute(f"CREATE TEMP TABLE registry_sample AS SELECT * FROM read_parquet({path}) "  # noqa: S608
                    f"USING SAMPLE {100.0 * rows / stats.row_count:.6f}% (bernoulli, {SAMPLE_SEED})")
    else:
        threshold = round(SAMPLE_SCALE * rows / stats.row_count)
        con.execute(f"CREATE TEMP TABLE registry_sample AS SELECT * EXCLUDE (file_row_number) "  # noqa: S608
                    f"FROM read_parquet({path}, file_row_number = true) "
                    f"WHERE hash(file_row_number, {SAMPLE_SEED}) % {SAMPLE_SCALE} < {threshold}")
    got = con.execute("SELECT count(*) FROM registry_sample").fetchone()
    return int(got[0]) if got else 0
