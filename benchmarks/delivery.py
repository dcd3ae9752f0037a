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

``--sharing`` instead measures Delta Sharing: a live server on a loopback port serves the table to
one contract, and the official client (``delta_sharing.load_as_pandas``) reads it, against PyArrow
reading the same (watermarked) Parquet files directly, to Arrow and to pandas, best of
``--rounds``; the first query, which writes the contract's marked files, is timed apart. Run it
from the repository root with ``PYTHONPATH=src:.`` (it builds its contract with the tests'
factories).

``--sandbox-http`` runs benchmarks/delivery_api.py instead: the sandbox query mix and a data API
page through the HTTP path against bare DuckDB, by table size, in wall and CPU time (issue 13).
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
    parser.add_argument("--sharing", action="store_true", help="measure Delta Sharing instead")
    args = parser.parse_args()
    if args.sharing:
        sharing(args.megabytes, args.rounds)
        return
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


def sharing(megabytes: int, rounds: int) -> None:
    """The official Delta Sharing client against PyArrow on the same files (see the docstring)."""
    import json
    import socket
    import threading

    import delta_sharing
    import uvicorn
    from tests.delivery.test_delta_sharing import committed_contract

    from qianshu.core.blobs import open_blob_store
    from qianshu.core.db import Database
    from qianshu.core.migrate import upgrade
    from qianshu.core.settings import Settings
    from qianshu.delivery import delta_tokens
    from qianshu.web.app import create_app

    folder = Path(tempfile.mkdtemp(prefix="qianshu-bench-sharing-"))
    try:
        source = folder / "product.parquet"
        rows, size = generate(source, megabytes)
        print(f"table: {rows:,} rows, {size / 1024**2:,.0f} MiB of Arrow data, "
              f"{source.stat().st_size / 1024**2:,.0f} MiB of Parquet")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        url = f"sqlite:///{folder / 'bench.db'}"
        upgrade(url)
        database = Database(url)
        settings = Settings(environment="test", data_dir=folder / "data", database_url=url,
                            secret_key="benchmark-secret-" + "x" * 32, run_jobs_in_process=False,
                            public_base_url=f"http://127.0.0.1:{port}")
        stored = open_blob_store(settings).put_file(source)
        trade = committed_contract(database, settings, folder, "delta_sharing", data=stored)
        with database.unit_of_work() as db:
            row, token = delta_tokens.issue_token(db, trade["buyer"], settings, trade["contract_id"])
            (folder / "p.share").write_text(json.dumps(delta_tokens.profile(settings, token, row)))
        server = uvicorn.Server(uvicorn.Config(create_app(settings, database=database), host="127.0.0.1",
                                               port=port, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        table_url = f"{folder / 'p.share'}#{delta_tokens.share_name(trade['number'])}.product.data"
        started = time.perf_counter()
        frame = delta_sharing.load_as_pandas(table_url)
        print(f"first query (writes the contract's marked files, then reads them): "
              f"{time.perf_counter() - started:.2f} s, {len(frame):,} rows")
        del frame
        files = sorted((settings.data_dir / "delivery" / "sharing").rglob("part-*.parquet"))
        client, arrow, pandas = [], [], []
        for _ in range(rounds):
            started = time.perf_counter()
            frame = delta_sharing.load_as_pandas(table_url)
            client.append(time.perf_counter() - started)
            assert len(frame) == rows
            del frame
            started = time.perf_counter()
            table = pa.concat_tables([pq.read_table(f) for f in files])
            arrow.append(time.perf_counter() - started)
            # The client's own conversion options (one thread, objects for dates), so that both end in the
            # same DataFrame made the same way.
            table.to_pandas(date_as_object=True, use_threads=False, split_blocks=False, self_destruct=True)
            pandas.append(time.perf_counter() - started)
            del table
        best_client, best_arrow, best_pandas = min(client), min(arrow), min(pandas)
        print(f"official client, load_as_pandas: best {best_client:.2f} s "
              f"({size / 1024**2 / best_client:,.0f} MiB/s of Arrow data)")
        print(f"PyArrow on the same {len(files)} files: {best_arrow:.2f} s to Arrow, {best_pandas:.2f} s to pandas")
        print(f"speed ratio (PyArrow / client): {best_arrow / best_client:.2f}x against Arrow, "
              f"{best_pandas / best_client:.2f}x against pandas  (goal: at least 0.5x)")
        server.should_exit = True
        thread.join(10)
        database.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if "--sandbox-http" in sys.argv:  # the data API and sandbox benchmark (benchmarks/delivery_api.py)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from delivery_api import main as sandbox_http

        sandbox_http([a for a in sys.argv[1:] if a != "--sandbox-http"])
    else:
        main()
