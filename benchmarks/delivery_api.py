"""The data API and the sandbox through the HTTP path against bare DuckDB over the same file.

    python benchmarks/delivery_api.py [--rows 1000000] [--rounds 7]
    python benchmarks/delivery.py --sandbox-http [--rows ...]   (the same)

Writes a product of ``--rows`` rows (county, age, income) as Parquet, makes a sandbox contract
and a per-call API contract on it (SQLite, a real uvicorn server on a loopback port), then in
alternating rounds times:

* **sandbox**: ``POST /api/v1/delivery/contracts/{id}/sandbox/queries`` (contract check, parse and
  check, the engine's rewrite and suppression, the query log and audit rows) against the same
  aggregate in a bare DuckDB connection with the same thread limit;
* **data API page**: ``GET /api/v1/delivery/data/rows?filter=...&limit=100`` (key, quota and rate
  counters, the read, the watermark, the metering) against the same 100 rows in bare DuckDB.

Prints the median wall time of each and the ratio. Small scale only on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

SQL = "SELECT county, count(*) AS n, avg(income) AS mean FROM data GROUP BY county"
FILTER = "county:eq:南明区"


def _bare(path: Path, sql: str) -> float:
    connection = duckdb.connect(config={"threads": 2, "memory_limit": "1GB"})
    connection.execute(f"CREATE VIEW data AS SELECT * FROM read_parquet('{path}')")
    started = time.perf_counter()
    connection.execute(sql).fetchall()
    took = time.perf_counter() - started
    connection.close()
    return took


def main(argv: list[str] | None = None) -> None:
    from tests.delivery.delivery_support import bearer, make_setup
    from tests.web.live import live_server

    from qianshu.core.db import Database
    from qianshu.core.migrate import upgrade
    from qianshu.core.settings import Settings
    from qianshu.web.app import create_app

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qianshu-bench-api-") as folder:
        tmp = Path(folder)
        data = tmp / "product.parquet"
        duckdb.sql(f"COPY (SELECT i AS row_no, ['南明区','云岩区','花溪区','乌当区','白云区'][i % 5 + 1] AS county, "
                   f"18 + i % 60 AS age, round(1000 + (i * 7919) % 50000 / 3.0, 2) AS income "
                   f"FROM range({args.rows}) t(i)) TO '{data}' (FORMAT parquet)")
        url = f"sqlite:///{tmp / 'bench.db'}"
        upgrade(url)
        database = Database(url)
        settings = Settings(environment="test", data_dir=tmp / "data", database_url=url,
                            secret_key="bench-secret-" + "x" * 32, run_jobs_in_process=False,
                            sections={"delivery": {"api_rate_per_minute": 100_000, "api_calls_per_period": 10**9,
                                                   "api_rows_per_period": 10**12}})
        with database.unit_of_work() as db:
            setup = make_setup(db, settings, tmp, data=data)
            sandbox_id, api_id = setup.sandbox_contract.id, setup.api_contract.id
        with live_server(create_app(settings, database=database)) as base, \
                httpx.Client(base_url=base, headers=bearer(setup.buyer_token), timeout=300) as client:
            key = client.post(f"/api/v1/delivery/contracts/{api_id}/api-key").json()["key"]
            ask = f"/api/v1/delivery/contracts/{sandbox_id}/sandbox/queries"
            started = time.perf_counter()
            client.post(ask, json={"sql": SQL}).raise_for_status()  # opens and profiles the table once
            print(f"{args.rows:,} rows; first sandbox query (opens and profiles the table): "
                  f"{time.perf_counter() - started:.3f} s")
            client.get("/api/v1/delivery/data/rows", params={"filter": FILTER, "limit": 100},
                       headers={"X-API-Key": key}).raise_for_status()
            bare_sql = sandbox_http = bare_page = api_page = 0.0
            times: dict[str, list[float]] = {"bare aggregate": [], "sandbox over HTTP": [],
                                             "bare 100 rows": [], "data API page over HTTP": []}
            page_sql = "SELECT * FROM data WHERE county = '南明区' LIMIT 100"
            for _round in range(args.rounds):
                times["bare aggregate"].append(_bare(data, SQL))
                started = time.perf_counter()
                client.post(ask, json={"sql": SQL}).raise_for_status()
                times["sandbox over HTTP"].append(time.perf_counter() - started)
                times["bare 100 rows"].append(_bare(data, page_sql))
                started = time.perf_counter()
                client.get("/api/v1/delivery/data/rows", params={"filter": FILTER, "limit": 100},
                           headers={"X-API-Key": key}).raise_for_status()
                times["data API page over HTTP"].append(time.perf_counter() - started)
            medians = {name: statistics.median(values) for name, values in times.items()}
            for name, value in medians.items():
                print(f"{name:>26}: median {value * 1000:8.1f} ms over {args.rounds} rounds")
            bare_sql, sandbox_http = medians["bare aggregate"], medians["sandbox over HTTP"]
            bare_page, api_page = medians["bare 100 rows"], medians["data API page over HTTP"]
            print(f"sandbox over HTTP / bare DuckDB: {sandbox_http / bare_sql:.2f}x "
                  f"(+{(sandbox_http - bare_sql) * 1000:.1f} ms)")
            print(f"data API page over HTTP / bare DuckDB: {api_page / bare_page:.2f}x "
                  f"(+{(api_page - bare_page) * 1000:.1f} ms)")
        database.dispose()


if __name__ == "__main__":
    main()
