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
