"""Benchmark of the public log: batch appends, proof latency, full verification.

    python benchmarks/translog.py                      # 1M, then 10M leaves (SQLite in a temp dir)
    python benchmarks/translog.py --sizes 100000,1000000 --batch 20000
    python benchmarks/translog.py --url postgresql+psycopg://postgres@127.0.0.1/qs_bench

Figures are printed with a ratio against bare hashlib over the same leaves in the same run.
Goals (issue 4): appends >= 50,000 leaves/s in batches; proofs < 1 ms p99 at 10M leaves;
full verify >= half the speed of bare hashing of the same leaves.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from qianshu.core.db import Database
from qianshu.core.migrate import upgrade
from qianshu.translog import service
from qianshu.translog.verify import CHUNK, verify_log


def events(start: int, count: int) -> list[tuple[str, dict[str, Any]]]:
    """Registration events shaped like the registry's (~330 bytes of canonical JSON each)."""
    return [("registration.issued", {
        "number": f"QS-520100-2026-{i:08d}",
        "holder_uscc": "91520100MA6DQ6XK2T",
        "holder_name": "贵州黔数数据科技有限公司",
        "title": "贵阳市公共交通刷卡数据（脱敏）",
        "rights": ["holding", "processing_use"],
        "grade": "general",
        "facts_sha256": hashlib.sha256(i.to_bytes(8, "big")).hexdigest(),
        "rows": 1000 + i % 5000,
    }) for i in range(start, start + count)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def grow(database: Database, target: int, batch: int) -> tuple[float, float]:
    """Append until the log has ``target`` leaves: (leaves per wall second, per CPU second).

    Only appends and commits are timed. The CPU figure (this process's CPU time) shows the
    cost when other processes compete for the cores; the wall figure is the goal's.
    """
    with database.unit_of_work(write=False) as db:
        size = service.tree_size(db)
    spent, cpu, added = 0.0, 0.0, 0
    report_every = max(batch, (target - size) // 10)
    next_report = size + report_every
    while size < target:
        count = min(batch, target - size)
        todo = events(size, count)
        started, cpu_started = time.perf_counter(), time.process_time()
        with database.unit_of_work() as db:
            service.append_events(db, todo)
        spent += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
        size += count
        added += count
        if size >= next_report:
            print(f"  … {size:>11,} leaves, {added / spent:,.0f} leaves/s so far "
                  f"({added / cpu:,.0f} per CPU s; load {os.getloadavg()[0]:.1f})", flush=True)
            next_report += report_every
    return (added / spent, added / cpu) if spent and cpu else (0.0, 0.0)


def proof_latency(database: Database, size: int, samples: int) -> dict[str, float]:
    rng = random.Random(size)
    inclusion: list[float] = []
    consistency: list[float] = []
    with database.unit_of_work(write=False) as db:
        for _ in range(samples):
            index = rng.randrange(size)
            started = time.perf_counter()
            service.inclusion_proof(db, index, size)
            inclusion.append(time.perf_counter() - started)
            first = rng.randrange(1, size)
            started = time.perf_counter()
            service.consistency_proof(db, first, size)
            consistency.append(time.perf_counter() - started)
    ms = 1000.0
    return {"inclusion_p50": statistics.median(inclusion) * ms, "inclusion_p99": percentile(inclusion, 0.99) * ms,
            "consistency_p50": statistics.median(consistency) * ms,
            "consistency_p99": percentile(consistency, 0.99) * ms}


def _proofs_worker(url: str, size: int, samples: int, out: Any) -> None:
    database = Database(url)
    cold = proof_latency(database, size, samples)
    warm = proof_latency(database, size, samples)  # same process, OS and SQLite caches warm
    out.put({**{f"cold_{k}": v for k, v in cold.items()}, **warm})
    database.dispose()


def proofs_in_fresh_process(url: str, size: int, samples: int) -> dict[str, float]:
    """Proofs are served by web workers, not by the process that just bulk-appended millions
    of leaves (whose heap and caches are full of that work): measure them in a new process."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    worker = context.Process(target=_proofs_worker, args=(url, size, samples, out))
    worker.start()
    result: dict[str, float] = out.get(timeout=600)
    worker.join()
    return result


def bare_hashing(database: Database, size: int) -> tuple[float, float]:
    """Bare hashlib over every leaf, read the way verify reads them: (read + hash s, hash-only s).

    The baseline reads the same leaf bytes with the same driver cursor and the same chunked
    query as ``verify_log`` (but only the ``leaf`` column) and hashes each as
    ``SHA-256(0x00 || leaf)``; the first figure counts reading and hashing, the second only
    the hashing loop.
    """
    hashing = 0.0
    sha256 = hashlib.sha256
    with database.unit_of_work(write=False) as db:
        cursor = db.connection().connection.cursor()
        mark = "?" if database.engine.dialect.paramstyle == "qmark" else "%s"
        query = (f"SELECT leaf FROM translog_leaves WHERE leaf_index >= {mark} AND leaf_index < {mark} "
                 "ORDER BY leaf_index")
        started = time.perf_counter()
        for position in range(0, size, CHUNK):
            cursor.execute(query, (position, min(size, position + CHUNK)))
            leaves = [row[0] for row in cursor.fetchall()]
            began = time.perf_counter()
            digests = [sha256(b"\x00" + leaf).digest() for leaf in leaves]
            hashing += time.perf_counter() - began
            del digests
        total = time.perf_counter() - started
    return total, hashing


def full_verify(database: Database, size: int) -> float:
    with database.unit_of_work(write=False) as db:
        started = time.perf_counter()
        report = verify_log(db, None)
        spent = time.perf_counter() - started
    if not report.ok or report.leaves_checked != size:
        sys.exit(f"verify failed: {report.problems}")
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000", help="comma-separated tree sizes to measure at")
    parser.add_argument("--batch", type=int, default=50_000, help="leaves per append_events call and commit")
    parser.add_argument("--samples", type=int, default=2000, help="proofs timed at each size")
    parser.add_argument("--url", default="", help="database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--no-verify", action="store_true", help="skip the full verification")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    with tempfile.TemporaryDirectory(prefix="qs-bench-") as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'log.db'}"
        upgrade(url)
        database = Database(url)
        print(f"database: {database.engine.dialect.name}; batch {args.batch:,}; {args.samples} proofs per size")
        for size in sizes:
            print(f"\n== {size:,} leaves ==", flush=True)
            rate, cpu_rate = grow(database, size, args.batch)
            print(f"append (batches of {args.batch:,}): {rate:,.0f} leaves/s  (goal >= 50,000); "
                  f"{cpu_rate:,.0f} leaves per CPU second")
            os.sync()  # let the kernel finish writing back the appends before timing reads
            latency = proofs_in_fresh_process(url, size, args.samples)
            print("proofs (after os.sync(), in a fresh reader process, as a web worker serves them)")
            print(f"  first pass (cold caches): inclusion p50 {latency['cold_inclusion_p50']:.3f} ms  "
                  f"p99 {latency['cold_inclusion_p99']:.3f} ms; "
                  f"consistency p99 {latency['cold_consistency_p99']:.3f} ms")
            print("  second pass (warm):")
            print(f"inclusion proof:   p50 {latency['inclusion_p50']:.3f} ms  p99 {latency['inclusion_p99']:.3f} ms")
            print(f"consistency proof: p50 {latency['consistency_p50']:.3f} ms  "
                  f"p99 {latency['consistency_p99']:.3f} ms  (goal p99 < 1 ms at 10M)")
            if not args.no_verify:
                bare, hashing = bare_hashing(database, size)
                verify = full_verify(database, size)
                print(f"bare hashlib, read + hash:  {size / bare:,.0f} leaves/s ({bare:.1f} s); "
                      f"hashing alone {size / hashing:,.0f} leaves/s ({hashing:.1f} s)")
                print(f"full verify:   {size / verify:,.0f} leaves/s ({verify:.1f} s); "
                      f"ratio {bare / verify:.2f} of bare read + hash (goal >= 0.5), "
                      f"{hashing / verify:.2f} of hashing alone")
            print(f"load average: {os.getloadavg()[0]:.2f} (2 cores: above ~1 another process competed)",
                  flush=True)
        database.dispose()


if __name__ == "__main__":
    main()
