"""Sandbox aggregate over 10 million rows against the same query in bare DuckDB, in the same run.

    python benchmarks/delivery_sandbox.py [--rows 10000000] [--rounds 5] [--threads 2]

Writes a Parquet table of people (resident id, name, county, gender, age, income) with DuckDB,
then times, in alternating rounds, each query twice: in a bare DuckDB connection (opened once,
a view over the file, the same thread and memory limits: the baseline) and through
``run_query`` (parse and check with sqlglot, the rewrite with hidden counts, a bounded
database kept per product's files and a cursor per query, suppression). The first sandbox
query of a table opens that database and profiles its columns (distinct counts, once per
file); that cold figure is printed apart. Prints, for each, the median and the best wall time
of the rounds and the median CPU time of the process (DuckDB's threads included), and the
ratios sandbox / bare (goal: under 1.2). On a shared machine the best wall time and the CPU
time are the figures least disturbed by other processes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import duckdb

from qianshu.core.analytics import Limits
from qianshu.delivery.sandbox import SandboxPolicy, run_query

QUERIES = {
    "group by county": "SELECT county, count(*) AS n, sum(income) AS total, avg(age) AS mean_age "
                       "FROM people GROUP BY county ORDER BY county",
    "with a WHERE": "SELECT county, gender, count(*) AS n, avg(income) AS mean_income FROM people "
                    "WHERE age >= 40 GROUP BY county, gender ORDER BY county, gender",
    "whole table": "SELECT count(*), sum(income), stddev(income), count(DISTINCT county) FROM people",
}


def write_people(path: Path, rows: int) -> None:
    duckdb.sql(f"""
        COPY (SELECT '5201' || lpad((i % 100)::VARCHAR, 2, '0') || (1950 + i % 55)::VARCHAR
                     || lpad((i % 1231)::VARCHAR, 4, '0') || lpad((i % 997)::VARCHAR, 3, '0') || 'X' AS resident_id,
                     '居民' || i AS name,
                     (['南明区', '云岩区', '花溪区', '乌当区', '白云区', '观山湖区', '红花岗区', '汇川区',
                       '西秀区', '七星关区'])[1 + (hash(i) % 10)::INTEGER] AS county,
                     CASE WHEN hash(i + 1) % 2 = 0 THEN '男' ELSE '女' END AS gender,
                     18 + (hash(i + 2) % 70)::INTEGER AS age,
                     round(20000 + (hash(i + 3) % 20000000) / 100.0, 2) AS income
              FROM range({rows}) t(i))
        TO '{path}' (FORMAT parquet)""")


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall time and CPU time of this process (all of DuckDB's threads) of one call."""
    started, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - started, time.process_time() - cpu


def _bare(connection: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return connection.execute(sql).fetchall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    limits = Limits(memory_limit="2GB", threads=args.threads, query_seconds=600)
    policy = SandboxPolicy(limits=limits)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "people.parquet"
        started = time.perf_counter()
        write_people(path, args.rows)
        print(f"{args.rows:,} rows written in {time.perf_counter() - started:.1f} s "
              f"({path.stat().st_size / 1e6:.0f} MB)")
        tables = {"people": [path]}
        bare = duckdb.connect(config={"threads": args.threads, "memory_limit": limits.memory_limit})
        bare.execute(f"CREATE VIEW people AS SELECT * FROM read_parquet('{path}')")
        cold, _cpu = timed(lambda: run_query("SELECT count(*) FROM people", tables, policy))
        print(f"first sandbox query of the table (profiles its columns once): {cold:.2f} s")
        print(f"{'':<18} {'median wall time':^26}   {'best wall time':^26}   {'median CPU time':^26}")
        print(f"{'query':<18} " + "   ".join([f"{'bare s':>8} {'sandbox s':>10} {'ratio':>6}"] * 3))
        for name, sql in QUERIES.items():
            assert run_query(sql, tables, policy).rows, name  # warm, and every group is shown
            bare_runs, sandbox_runs = [], []
            for _ in range(args.rounds):
                bare_runs.append(timed(partial(_bare, bare, sql)))
                sandbox_runs.append(timed(partial(run_query, sql, tables, policy)))
            figures = []
            for pick, part in ((statistics.median, 0), (min, 0), (statistics.median, 1)):
                b = pick([run[part] for run in bare_runs])
                s = pick([run[part] for run in sandbox_runs])
                figures.append(f"{b:>8.3f} {s:>10.3f} {s / b:>5.2f}x")
            print(f"{name:<18} " + "   ".join(figures))
        bare.close()


if __name__ == "__main__":
    main()
