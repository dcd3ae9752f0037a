"""Sandbox aggregate over 10 million rows against the same query in bare DuckDB, in the same run.

    python benchmarks/delivery_sandbox.py [--rows 10000000] [--rounds 5] [--threads 2]

Writes a Parquet table of people (resident id, name, county, gender, age, income) with DuckDB,
then times, in alternating rounds, each query twice: in a bare DuckDB connection (opened once,
a view over the file, the same thread and memory limits: the baseline) and through
``run_query`` (parse and check with sqlglot, the rewrite with hidden counts, a bounded
database kept per product's files and a cursor per query, suppression). The first sandbox
query of a table opens that database and profiles its columns (distinct counts, once per
file); that cold figure is printed apart. Prints the median and the best of the rounds of each
and their ratios sandbox / bare (goal: under 1.2); on a shared machine the best of the rounds
is the figure least disturbed by other processes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
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


def timed(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


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
        cold = timed(lambda: run_query("SELECT count(*) FROM people", tables, policy))
        print(f"first sandbox query of the table (profiles its columns once): {cold:.2f} s")
        print(f"{'query':<18} {'bare s':>8} {'sandbox s':>10} {'ratio':>6}   {'best bare':>9} {'best sandbox':>12} "
              f"{'ratio':>6}")
        for name, sql in QUERIES.items():
            assert run_query(sql, tables, policy).rows, name  # warm, and every group is shown
            bare_times, sandbox_times = [], []
            for _ in range(args.rounds):
                bare_times.append(timed(lambda sql=sql: bare.execute(sql).fetchall()))
                sandbox_times.append(timed(lambda sql=sql: run_query(sql, tables, policy)))
            b, s = statistics.median(bare_times), statistics.median(sandbox_times)
            best_b, best_s = min(bare_times), min(sandbox_times)
            print(f"{name:<18} {b:>8.3f} {s:>10.3f} {s / b:>6.2f}x   {best_b:>9.3f} {best_s:>12.3f} "
                  f"{best_s / best_b:>6.2f}x")
        bare.close()


if __name__ == "__main__":
    main()
