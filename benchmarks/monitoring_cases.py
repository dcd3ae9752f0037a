"""Benchmark: opening the cases of a run's flagged households, as the run job does, and a repeat run.

    python benchmarks/monitoring_cases.py [--scale 0.1] [--data-dir benchmarks/.data]
                                          [--server postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                                          [--caseworkers 1000]

Reuses (or generates, as ``benchmarks/monitoring.py`` does) the province's feeds at ``--scale``, runs
the rules on DuckDB (``rules.run_duckdb``) and hands the result to a fresh database migrated to
head through the function the job ``monitoring.run`` ends with (``runs._save``: the run's flagged
households and, in the same transaction, ``case_opening.open_cases_from_flags`` over
``case_opening.flags_from_flagged``), with the head of each household from the registration
(``runs._registration``). Then a second run with the same result (a forced repeat run) goes through
the same function: it must open no case twice. Timed: both hand-offs; printed: cases per second
and the time extrapolated to the whole province's flagged households (628,402 at ``--scale 1``).

On a fresh SQLite file (in a temporary folder) and, with ``--server``, on a scratch PostgreSQL
database (dropped at the end; ``--server ''`` skips it). ``--caseworkers`` village caseworkers are
created first in the villages with the most flagged households, so that part of the cases also
write their inbox notifications, as in a deployment.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import pyarrow as pa
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from monitoring import SEED, YEAR, add_province_arguments, province_feeds  # noqa: E402
from qianshu.accounts.models import Organisation, User  # noqa: E402
from qianshu.core import jobs  # noqa: E402
from qianshu.core.analytics import Limits  # noqa: E402
from qianshu.core.db import Database  # noqa: E402
from qianshu.core.identifiers import uscc_check_char  # noqa: E402
from qianshu.core.inbox import Notification  # noqa: E402
from qianshu.core.migrate import upgrade  # noqa: E402
from qianshu.monitoring import runs  # noqa: E402
from qianshu.monitoring.models import Case, CaseEvent, MonitoringRun  # noqa: E402
from qianshu.monitoring.population import FEEDS  # noqa: E402
from qianshu.monitoring.rules import RuleSet, RunResult, run_duckdb  # noqa: E402

PROVINCE_FLAGGED = 628_402  # households flagged at --scale 1 (docs/monitoring.md, "Measured")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _caseworkers(database: Database, result: RunResult, count: int) -> int:
    """``count`` village caseworkers of one government organisation, in the villages with the most
    flagged households; returns how many flagged households they cover."""
    villages = Counter(result.households.column("division_code").to_pylist()).most_common(count)
    with database.unit_of_work() as db:
        body = "11520000MB0000001"
        org = Organisation(name="基准测试乡村振兴局", org_type="government", uscc=body + uscc_check_char(body),
                           division_code="520000", contact_name="x", contact_email="bench@gov.cn",
                           contact_phone="1", status="approved")
        db.add(org)
        db.flush()
        db.add_all([User(email=f"village{n}@bench.gov.cn", display_name=f"村 {code}", password_hash=None,
                         org_id=org.id, org_role="member", jurisdiction=code)
                    for n, (code, _) in enumerate(villages)])
    return sum(n for _, n in villages)


def _new_run(database: Database) -> tuple[int, int]:
    """A run and its job, as ``runs.start_run`` queues them (the job is not run: the benchmark does its work)."""
    with database.unit_of_work() as db:
        run = MonitoringRun(year=YEAR, division_code="520000", status="running", parameters={},
                            feed_version_ids=[], parameter_ids=[])
        db.add(run)
        db.flush()
        run.job_id = jobs.enqueue(db, runs.JOB_KIND, {"run_id": run.id}).id
        return run.id, run.job_id


def _counts(database: Database) -> tuple[int, int, int, int]:
    with database.unit_of_work(write=False) as db:
        return (db.scalar(select(func.count()).select_from(Case)) or 0,
                db.scalar(select(func.count(func.distinct(Case.household_id)))) or 0,
                db.scalar(select(func.count()).select_from(CaseEvent)) or 0,
                db.scalar(select(func.count()).select_from(Notification)) or 0)


def hand_off(url: str, label: str, result: RunResult, registration: pa.Table, caseworkers: int) -> None:
    upgrade(url)
    database = Database(url)
    try:
        covered = _caseworkers(database, result, caseworkers) if caseworkers else 0
        households = result.households.num_rows
        ids: dict[str, list[int]] = {feed: [] for feed in FEEDS}
        timings = []
        for attempt in ("first run", "repeat run"):
            run_id, job_id = _new_run(database)
            started, cpu = time.perf_counter(), cpu_seconds()
            runs._save(database, run_id, job_id, result.flags, result.households, "0" * 64, ids,
                       registration)
            seconds, used = time.perf_counter() - started, cpu_seconds() - cpu
            cases, distinct, events, notes = _counts(database)
            timings.append(seconds)
            print(f"{label}, {attempt}: {seconds:.1f} s ({used:.1f} CPU-s) for {households:,} flagged households; "
                  f"cases {cases:,} ({distinct:,} households), events {events:,}, inbox notes {notes:,}")
            if cases != households or distinct != households:
                raise SystemExit(f"{label}: {cases:,} cases for {households:,} households after the {attempt}")
        rate = households / timings[0]
        print(f"  {label}: {rate:,.0f} households/s (caseworkers in {caseworkers:,} villages cover {covered:,}); "
              f"the province's {PROVINCE_FLAGGED:,} at that rate: {PROVINCE_FLAGGED / rate:.0f} s; "
              f"repeat run {timings[1]:.1f} s, no case opened twice")
    finally:
        database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_province_arguments(parser, 0.1)
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server for a scratch database ('' to skip)")
    parser.add_argument("--caseworkers", type=int, default=1000, help="village caseworkers to create")
    args = parser.parse_args()
    province, facts, temp = province_feeds(args)
    print(f"province at {args.scale:g} (seed {SEED}): {facts['residents']:,} residents, "
          f"{facts['households']:,} households")
    print(f"load average before the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    started = time.perf_counter()
    result = run_duckdb(province, RuleSet(year=YEAR), Limits(memory_limit=args.memory, threads=args.threads,
                                                             query_seconds=3600), temp_directory=temp)
    registration = runs._registration([province / "household_registration.parquet"],
                                      result.households)
    print(f"rules and registration: {time.perf_counter() - started:.1f} s; {result.households.num_rows:,} households "
          f"flagged, {result.flags.num_rows:,} flags")

    with tempfile.TemporaryDirectory() as folder:
        hand_off(f"sqlite:///{folder}/qianshu.db", "SQLite", result, registration, args.caseworkers)
    if args.server:
        name = f"qs_bench_cases_{uuid.uuid4().hex[:8]}"
        admin = create_engine(make_url(args.server).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(args.server).set(database=name).render_as_string(hide_password=False)
            hand_off(url, "PostgreSQL", result, registration, args.caseworkers)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
