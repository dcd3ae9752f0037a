"""Delivery's watermark: marking a large table against rewriting it unmarked, and detection time.

    python benchmarks/delivery.py [--megabytes 200] [--rounds 2] [--candidates 100]

Generates a product table of about ``--megabytes`` of Arrow data (household id, county, address,
income with two decimals, household size, a date as text; the shape of the monitoring products)
as Parquet, then, in alternating rounds in the same process:

* **baseline**: read it batch by batch and write it again as Parquet, no watermark;
* **watermarked**: the same, each batch marked for one recipient on the way through.

Prints the best time of each and the speed ratio (baseline time / watermarked time; the goal is
at least 0.5). Then detection: a 10 % subset of the marked copy, columns reordered, written as
CSV, examined against ``--candidates`` recipients (the leaker among them), in seconds.
Use ``--megabytes 1024`` for the 1 GB figure.

``--sandbox-http`` runs benchmarks/delivery_api.py instead: a sandbox aggregate and a data API page
through the HTTP path against bare DuckDB (issue 13).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qianshu.delivery.detection import detect_file
from qianshu.delivery.files import BATCH_ROWS, original_sample, write_copy
from qianshu.delivery.watermark import PLAN_SAMPLE_ROWS, WatermarkKey, WatermarkPolicy, make_plan, watermark_batches

SECRET = "benchmark-exchange-secret"  # noqa: S105 - a throwaway key for generated data
COUNTIES = pa.array(["南明区", "云岩区", "花溪区", "乌当区", "白云区", "观山湖区", "清镇市", "开阳县"])
DATES = pa.array([f"2025-{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 29)])


def product_batch(start: int, rows: int, rng: np.random.Generator) -> pa.RecordBatch:
    ids = pa.array(np.arange(start, start + rows, dtype=np.int64)).cast(pa.string())
    numbers = pa.array(rng.integers(1, 999, rows)).cast(pa.string())
    return pa.RecordBatch.from_pydict({
        "户编号": pc.binary_join_element_wise("520102", pc.utf8_lpad(ids, 10, "0"), ""),
        "县区": COUNTIES.take(pa.array(rng.integers(0, len(COUNTIES), rows))),
        "地址": pc.binary_join_element_wise("幸福路", numbers, "号", ""),
        "收入": np.round(rng.uniform(800, 20_000, rows), 2),
        "人口": rng.integers(1, 9, rows),
        "登记日期": DATES.take(pa.array(rng.integers(0, len(DATES), rows))),
    })


def generate(path: Path, megabytes: int) -> tuple[int, int]:
    rng = np.random.default_rng(2026)
    first = product_batch(0, BATCH_ROWS, rng)
    batches = max(1, round(megabytes * 1024**2 / first.nbytes))
    with pq.ParquetWriter(path, first.schema) as writer:
        writer.write_batch(first)
        for i in range(1, batches):
            writer.write_batch(product_batch(i * BATCH_ROWS, BATCH_ROWS, rng))
    return batches * BATCH_ROWS, batches * first.nbytes


def rewrite(source: Path, target: Path, mark: bool, key: WatermarkKey) -> tuple[float, float]:
    """Wall and CPU seconds (the machine may be shared: CPU time is the steadier figure)."""
    parquet = pq.ParquetFile(source)
    policy = WatermarkPolicy(tolerances={"人口": 1})
    plan = make_plan(original_sample(source, PLAN_SAMPLE_ROWS), policy) if mark else None

    def batches() -> Iterator[pa.RecordBatch]:
        source = parquet.iter_batches(batch_size=BATCH_ROWS)
        yield from watermark_batches(source, plan, key) if plan is not None else source

    started, cpu = time.perf_counter(), time.process_time()
    write_copy(batches(), parquet.schema_arrow, target, "parquet")
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=100)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="qianshu-bench-delivery-"))
    try:
        source = folder / "product.parquet"
        rows, size = generate(source, args.megabytes)
        print(f"table: {rows:,} rows, {size / 1024**2:,.0f} MiB of Arrow data, "
              f"{source.stat().st_size / 1024**2:,.0f} MiB of Parquet")
        leaker = WatermarkKey.for_contract(SECRET, "HT-2026-000042")
        plain, marked = [], []
        for _ in range(args.rounds):
            plain.append(rewrite(source, folder / "plain.parquet", False, leaker))
            marked.append(rewrite(source, folder / "marked.parquet", True, leaker))
        for label, times in (("without watermark", plain), ("with watermark:   ", marked)):
            wall, cpu = min(t[0] for t in times), min(t[1] for t in times)
            print(f"rewrite {label}: best {wall:.2f} s wall ({size / 1024**2 / wall:,.0f} MiB/s), {cpu:.2f} s CPU")
        print(f"speed ratio (watermarked / plain): {min(t[0] for t in plain) / min(t[0] for t in marked):.2f}x wall, "
              f"{min(t[1] for t in plain) / min(t[1] for t in marked):.2f}x CPU  (goal: at least 0.5x)")

        copy = pq.read_table(folder / "marked.parquet")
        picked = np.sort(np.random.default_rng(1).choice(copy.num_rows, copy.num_rows // 10, replace=False))
        subset = copy.take(pa.array(picked)).select([5, 3, 2, 0, 4, 1])
        suspect = folder / "leaked.csv"
        write_copy(subset.to_batches(), subset.schema, suspect, "csv")
        del copy, subset
        keys = [WatermarkKey.for_contract(SECRET, f"HT-2026-{i:06d}") for i in range(args.candidates - 1)]
        plan = make_plan(original_sample(source, PLAN_SAMPLE_ROWS), WatermarkPolicy(tolerances={"人口": 1}))
        started, cpu = time.perf_counter(), time.process_time()
        detection = detect_file(suspect, source, plan, [*keys, leaker])
        took, took_cpu = time.perf_counter() - started, time.process_time() - cpu
        named = detection.named
        print(f"detection on a 10 % subset ({detection.rows_in_file:,} rows, CSV, columns reordered), "
              f"{len(detection.candidates)} candidates: {took:.2f} s wall, {took_cpu:.2f} s CPU; named "
              f"{named.key_id if named else 'nobody'} ({named.matches if named else 0:,} of "
              f"{named.marks if named else 0:,} marks, log10 p {named.log10_adjusted if named else 0:.0f}); "
              f"false-positive bound {detection.false_positive_bound:.1e}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if "--sandbox-http" in sys.argv:  # the data API and sandbox benchmark (benchmarks/delivery_api.py)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from delivery_api import main as sandbox_http

        sandbox_http([a for a in sys.argv[1:] if a != "--sandbox-http"])
    else:
        main()
