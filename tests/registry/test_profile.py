"""The profile's exact duplicate count and its reproducible uniform sample."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from qianshu.registry.ingest import connect
from qianshu.registry.pipeline import SourceFile, run_pipeline
from qianshu.registry.profile import create_sample, describe, profile_parquet
from tests.registry.conftest import people_rows, write_csv


def test_duplicate_rows_are_counted_exactly(tmp_path: Path) -> None:
    rows = people_rows(200)
    rows += rows[:7] + rows[:2]  # seven rows repeated once, two of them twice
    rows.append([*rows[0][:-1], "另一个地址"])  # differs in one cell: not a duplicate
    result = run_pipeline([SourceFile(write_csv(tmp_path / "d.csv", rows), "d.csv")], tmp_path / "work")
    assert result.measurements["duplicate_rows"] == 9


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = connect(tmp_path / "duck", readable=[tmp_path])
    yield connection
    connection.close()


def _parquet(con: duckdb.DuckDBPyConnection, path: Path, select: str) -> Path:
    con.execute(f"COPY ({select}) TO '{path}' (FORMAT parquet)")
    return path


def _sample(con: duckdb.DuckDBPyConnection, parquet: Path, rows: int) -> list[tuple[int, ...]]:
    stats = profile_parquet(con, parquet)
    create_sample(con, parquet, stats, rows=rows)
    return sorted(con.execute("SELECT * FROM registry_sample").fetchall())


def test_sample_is_uniform_and_reproducible(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    parquet = _parquet(con, tmp_path / "n.parquet", "SELECT range AS n, range % 7 AS k FROM range(200000)")
    first = _sample(con, parquet, rows=5000)
    assert 4500 < len(first) < 5500  # Bernoulli: 5,000 on average, sd ~70
    assert first == _sample(con, parquet, rows=5000)  # the same rows again
    positions = [row[0] for row in first]
    # spread over the whole file, not the first rows: each tenth of the file holds about a tenth
    tenths = [sum(1 for p in positions if t * 20000 <= p < (t + 1) * 20000) for t in range(10)]
    assert all(350 < t < 650 for t in tenths), tenths


def test_sample_of_data_with_a_column_named_like_the_row_number(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    parquet = _parquet(con, tmp_path / "f.parquet", "SELECT range AS file_row_number, 'x' AS v FROM range(50000)")
    rows = _sample(con, parquet, rows=2048)
    assert 1700 < len(rows) < 2400
    assert [c.name for c in describe(con, parquet)] == ["file_row_number", "v"]


# Values at the edges of what DuckDB reads as a number or a date: ASCII whitespace and signs,
# the words it knows, and look-alikes that start with a character outside ASCII (full-width
# digits, an ideographic or no-break space, a byte-order mark), which it never reads.
EDGE_VALUES = [
    "2025-01-01", " 2025-01-01", "\t2025/01/01", "\v2025-01-01 ", "1-1-1", "20250101", "+2025-01-01",
    "-infinity", "infinity", "Inf", "i", "e", "epoch", "NaN", "nan", "+-1", "  .5", "1e3", "1_000",
    "0x1A", "-", "", " ", "2025年1月1日", "１２", "\u30002025-01-01", "\u00a01", "\ufeff2025-01-01",
    "\u20031.5", "٣", "张三", "贵阳市", "é1", "Jan 1 2025",
    # starting with a digit: read as a date only with a separator after the year
    "2025\\01\\01", "2025 01 01", "2025.01.01", "2025-1-1", "2025-01-01 08:30:00", "2025-01-01T08:30",
    "12025-01-01", "2025-01-01 (BC)", "2025\t01\t01", "520102199001011234", "52010219900101123X", "0",
    "1990", "19900101", "2025-13-01", "2025/02/29", "2024/02/29",
]


def test_conformance_tries_every_value_duckdb_could_read(con: duckdb.DuckDBPyConnection) -> None:
    """The conformance query skips the casts of values starting outside ASCII (and, for dates, of
    values starting with a digit without a date's separators); it must count exactly what casting
    every value counts."""
    from qianshu.registry.profile import _castable

    con.execute("CREATE TEMP TABLE edge (v VARCHAR)")
    con.executemany("INSERT INTO edge VALUES (?)", [[v] for v in EDGE_VALUES])
    for to in ("DOUBLE", "DATE"):
        every = con.execute(f"SELECT list(v ORDER BY v) FILTER (WHERE TRY_CAST(v AS {to}) IS NOT NULL) "
                            "FROM edge").fetchone()
        skipping = con.execute(f"SELECT list(v ORDER BY v) FILTER (WHERE {_castable('v', to)} IS NOT NULL) "
                               "FROM edge").fetchone()
        assert every == skipping, to
        assert every is not None
        assert len(every[0]) >= 5  # the edge values do include readable ones


def test_mostly_numbers_with_chinese_strays_lose_conformance(tmp_path: Path) -> None:
    rows = [[f"{i}.5", "备注"] for i in range(950)] + [["待定", "备注"] for _ in range(50)]
    result = run_pipeline([SourceFile(write_csv(tmp_path / "m.csv", rows, header=["金额", "备注"]), "m.csv")],
                          tmp_path / "work")
    amount = next(c for c in result.stats.columns if c.name == "金额")
    assert amount.inferred_type == "text (mostly number)"
    assert amount.type_conformance == 0.95
