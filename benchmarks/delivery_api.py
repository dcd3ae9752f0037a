"""The sandbox and the data API through the HTTP path against bare DuckDB over the same file (issue 13).

    python benchmarks/delivery_api.py [--rows 100000,1000000,10000000] [--rounds 7] [--profile]
    python benchmarks/delivery.py --sandbox-http [--rows ...]   (the same)

For each size in ``--rows`` it writes a table of people (resident id, name, county, gender, age,
income: the table of ``benchmarks/delivery_sandbox.py``; 228 MB of Parquet at 10 million rows),
makes a sandbox contract and a per-call API contract on it (SQLite, a real uvicorn server on a
loopback port in this process), then in alternating rounds times each request against the same
work in one bare DuckDB connection with the same thread and memory limits, kept open (a view over
the file, as the sandbox keeps its database):

* **sandbox**, the query mix of ``delivery_sandbox.py`` (``GROUP BY county``; a ``WHERE`` with
  ``GROUP BY county, gender``; the whole table): ``POST /api/v1/delivery/contracts/{id}/sandbox/queries``
  (sign-in, contract check, parse and check, the engine's rewrite and suppression, the query log
  and audit rows);
* **data API page**: ``GET /api/v1/delivery/data/rows?filter=county:eq:...&limit=100`` (key, contract
  check, rate and quota counters, the read, the watermark, the metering) against the same 100 rows.

Prints, per request, the median wall time and the median CPU time of this process (the server's
threads, DuckDB's and the client's: ``time.process_time``, which other work on a shared machine
does not inflate), the ratios HTTP / bare (goal: under 1.2), and the mix's ratio (the sum of its
three medians). ``--profile`` then calls the service behind each route 30 times more under cProfile, in this
thread (the server's threads are not profiled), and prints the functions with the most cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from benchmarks.delivery_sandbox import write_people  # noqa: E402

MIX = {
    "group by county": "SELECT county, count(*) AS n, sum(income) AS total, avg(age) AS mean_age "
                       "FROM data GROUP BY county ORDER BY county",
    "with a WHERE": "SELECT county, gender, count(*) AS n, avg(income) AS mean_income FROM data "
                    "WHERE age >= 40 GROUP BY county, gender ORDER BY county, gender",
    "whole table": "SELECT count(*), sum(income), stddev(income), count(DISTINCT county) FROM data",
}
FILTER = "county:eq:南明区"
PAGE_SQL = "SELECT * FROM data WHERE county = '南明区' LIMIT 100"


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall time and CPU time of this process (server, DuckDB and client threads) of one call."""
    started, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - started, time.process_time() - cpu


def measure(rows: int, rounds: int, profile: bool, folder: Path) -> dict[str, tuple[float, float, float, float]]:
    """Per request kind: (bare wall, HTTP wall, bare CPU, HTTP CPU), medians in seconds."""
    from tests.delivery.delivery_support import bearer, make_setup
    from tests.web.live import live_server

    from qianshu.core.db import Database
    from qianshu.core.migrate import upgrade
    from qianshu.core.settings import Settings
    from qianshu.web.app import create_app

    data = folder / "people.parquet"
    started = time.perf_counter()
    write_people(data, rows)
    print(f"\n{rows:,} rows written in {time.perf_counter() - started:.1f} s ({data.stat().st_size / 1e6:.0f} MB)")
    url = f"sqlite:///{folder / 'bench.db'}"
    upgrade(url)
    database = Database(url)
    settings = Settings(environment="test", data_dir=folder / "data", database_url=url,
                        secret_key="bench-secret-" + "x" * 32, run_jobs_in_process=False,
                        sections={"delivery": {"api_rate_per_minute": 100_000, "api_calls_per_period": 10**9,
                                               "api_rows_per_period": 10**12, "sandbox_query_seconds": 600}})
    with database.unit_of_work() as db:
        setup = make_setup(db, settings, folder, data=data)
        sandbox_id, api_id = setup.sandbox_contract.id, setup.api_contract.id
    bare = duckdb.connect(config={"threads": 2, "memory_limit": "1GB"})
    bare.execute(f"CREATE VIEW data AS SELECT * FROM read_parquet('{data}')")
    results: dict[str, tuple[float, float, float, float]] = {}
    with live_server(create_app(settings, database=database)) as base, \
            httpx.Client(base_url=base, headers=bearer(setup.buyer_token), timeout=600) as client:
        key = client.post(f"/api/v1/delivery/contracts/{api_id}/api-key").json()["key"]
        ask = f"/api/v1/delivery/contracts/{sandbox_id}/sandbox/queries"

        def sandbox(sql: str) -> None:
            client.post(ask, json={"sql": sql}).raise_for_status()

        def page() -> None:
            client.get("/api/v1/delivery/data/rows", params={"filter": FILTER, "limit": 100},
                       headers={"X-API-Key": key}).raise_for_status()

        started = time.perf_counter()
        sandbox("SELECT count(*) FROM data")
        print(f"first sandbox query (opens and profiles the table): {time.perf_counter() - started:.2f} s")
        kinds: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
            name: (lambda sql=sql: bare.execute(sql).fetchall(), lambda sql=sql: sandbox(sql))
            for name, sql in MIX.items()}
        kinds["data API page"] = (lambda: bare.execute(PAGE_SQL).fetchall(), page)
        for name, (bare_call, http_call) in kinds.items():
            bare_call(), http_call()  # warm both (the complement counts of a WHERE, the watermark plan)
            bare_runs, http_runs = [], []
            for _round in range(rounds):
                bare_runs.append(timed(bare_call))
                http_runs.append(timed(http_call))
            results[name] = (statistics.median(r[0] for r in bare_runs), statistics.median(r[0] for r in http_runs),
                             statistics.median(r[1] for r in bare_runs), statistics.median(r[1] for r in http_runs))
        if profile:
            from qianshu.delivery import data_api, sandbox_service

            buyer = setup.buyer
            calls: dict[str, Callable[[], object]] = {
                name: (lambda sql=sql: sandbox_service.run_contract_query(database, buyer, settings, sandbox_id, sql))
                for name, sql in MIX.items()}
            calls["data API page"] = lambda: data_api.fetch_rows(database, settings, key, filters=[FILTER], limit=100)
            for name, call in calls.items():
                alone = [timed(call) for _ in range(rounds)]
                wall, cpu = (statistics.median(r[part] for r in alone) * 1000 for part in (0, 1))
                print(f"{name}: the service alone (no HTTP), median {wall:.1f} ms wall, {cpu:.1f} ms CPU")
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(30):
                    call()
                profiler.disable()
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
                print(f"--- cProfile of 30 calls of the service behind the route: {name} ---")
                print(out.getvalue())
    bare.close()
    database.dispose()
    return results


def report(rows: int, results: dict[str, tuple[float, float, float, float]]) -> None:
    print(f"{'request':<16} {'median wall time, ms':^30}   {'median CPU time, ms':^30}")
    print(f"{'':<16} " + "   ".join([f"{'bare':>8} {'HTTP':>8} {'ratio':>6} {'+ms':>5}"] * 2))
    for name, (bare_wall, http_wall, bare_cpu, http_cpu) in results.items():
        cells = [f"{b * 1000:>8.1f} {h * 1000:>8.1f} {h / b:>5.2f}x {(h - b) * 1000:>5.1f}"
                 for b, h in ((bare_wall, http_wall), (bare_cpu, http_cpu))]
        print(f"{name:<16} " + "   ".join(cells))
    mix = [results[name] for name in MIX]
    wall = sum(r[1] for r in mix) / sum(r[0] for r in mix)
    cpu = sum(r[3] for r in mix) / sum(r[2] for r in mix)
    print(f"{rows:,} rows, sandbox query mix over HTTP / bare DuckDB: {wall:.2f}x wall, {cpu:.2f}x CPU (goal < 1.2x)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000,10000000",
                        help="comma-separated table sizes (the issue's figure: 10 million rows)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.rows.split(",")]
    figures = {}
    for rows in sizes:
        with tempfile.TemporaryDirectory(prefix="qianshu-bench-api-") as folder:
            figures[rows] = measure(rows, args.rounds, args.profile, Path(folder))
            report(rows, figures[rows])
    if len(sizes) > 1:
        print("\nsummary")
        for rows, results in figures.items():
            report(rows, results)


if __name__ == "__main__":
    main()
