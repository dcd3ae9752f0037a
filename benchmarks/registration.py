"""Benchmark: the whole registration pipeline against DuckDB's bare SUMMARIZE of the same CSV.

    python benchmarks/registration.py [--rows 10000000] [--data-dir benchmarks/.data]

Generates (once; reused afterwards) a CSV of realistic Chinese columns — names, resident IDs
with valid check digits, mobiles, division codes, amounts, dates, free text with nulls — with
DuckDB (no Python loop over rows). Then, in one process:

1. baseline: ``SUMMARIZE SELECT * FROM read_csv(...)`` with the same DuckDB limits;
2. the pipeline: the original into the content-addressed blob store (SHA-256), encoding
   detection, normalise to Parquet, profile, PII scan, quality measurements, and the
   Parquet into the blob store.

Runs ``--rounds`` such pairs (default 3; each starts with no dirty pages pending) and prints
MB/s of each, each ratio and their median, and the peak RSS of the process (``ru_maxrss``), which must
stay under 2 GB whatever the file's size.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from qianshu.core.blobs import LocalBlobStore  # noqa: E402
from qianshu.registry.ingest import SourceFile, connect  # noqa: E402
from qianshu.registry.pipeline import run_pipeline  # noqa: E402
from qianshu.registry.service import store_local_file  # noqa: E402

MEMORY_LIMIT = "1GB"
MAX_BYTES = 10 * 1024**3  # the default upload limit
THREADS = 2

GENERATE = """
COPY (
  WITH base AS (
    SELECT i,
      CAST(hash(i) >> 2 AS BIGINT) AS h,
      '520' || lpad(CAST(100 + hash(i * 7) % 900 AS VARCHAR), 3, '0') AS area,
      (DATE '1950-01-01' + CAST(hash(i * 13) % 20000 AS INTEGER)) AS birth,
      lpad(CAST(hash(i * 17) % 1000 AS VARCHAR), 3, '0') AS seq
    FROM range({rows}) t(i)
  ), ids AS (
    SELECT *, area || strftime(birth, '%Y%m%d') || seq AS body FROM base
  )
  SELECT
    ['王','李','张','刘','陈','杨','黄','赵','吴','周'][1 + h % 10]
      || ['伟','芳','娜','敏','静','磊','洋','勇','艳','杰','强','军'][1 + (h >> 8) % 12]
      || CASE WHEN (h >> 16) % 2 = 0 THEN ['华','明','丽','平','刚'][1 + (h >> 20) % 5] ELSE '' END AS 姓名,
    body || substr('10X98765432', 1 + ((
        CAST(substr(body,1,1) AS INT)*7 + CAST(substr(body,2,1) AS INT)*9 + CAST(substr(body,3,1) AS INT)*10
      + CAST(substr(body,4,1) AS INT)*5 + CAST(substr(body,5,1) AS INT)*8 + CAST(substr(body,6,1) AS INT)*4
      + CAST(substr(body,7,1) AS INT)*2 + CAST(substr(body,8,1) AS INT)*1 + CAST(substr(body,9,1) AS INT)*6
      + CAST(substr(body,10,1) AS INT)*3 + CAST(substr(body,11,1) AS INT)*7 + CAST(substr(body,12,1) AS INT)*9
      + CAST(substr(body,13,1) AS INT)*10 + CAST(substr(body,14,1) AS INT)*5 + CAST(substr(body,15,1) AS INT)*8
      + CAST(substr(body,16,1) AS INT)*4 + CAST(substr(body,17,1) AS INT)*2) % 11), 1) AS 身份证号,
    '1' || ['3','5','8','9'][1 + (h >> 24) % 4] || lpad(CAST((h >> 28) % 1000000000 AS VARCHAR), 9, '0') AS 手机号,
    ['520102','520103','520111','520112','520113','520115','520302','520402','520502','520602'][1 + i % 10]
      AS 行政区划代码,
    round(((h >> 12) % 10000000) / 100.0, 2) AS 金额,
    DATE '2025-01-01' + CAST((h >> 32) % 640 AS INTEGER) AS 交易日期,
    CASE WHEN (h >> 40) % 5 = 0 THEN NULL
         ELSE ['贵州省贵阳市云岩区中华北路', '遵义市红花岗区丁字口', '安顺市西秀区塔山东路',
               '毕节市七星关区洪山路', '铜仁市碧江区锦江大道'][1 + (h >> 44) % 5]
              || CAST((h >> 48) % 300 AS VARCHAR) || '号' END AS 地址,
    CASE WHEN (h >> 50) % 3 = 0 THEN NULL
         ELSE ['按时还款', '逾期一次，已结清', '新开户客户，资料齐全', '客户要求更换联系方式',
               '复核通过'][1 + (h >> 52) % 5] END AS 备注
  FROM ids
) TO '{path}' (HEADER, DELIMITER ',')
"""


def generate(path: Path, rows: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    con = duckdb.connect(config={"memory_limit": "2GB", "threads": THREADS, "preserve_insertion_order": False})
    started = time.perf_counter()
    con.execute(GENERATE.format(rows=int(rows), path=str(tmp).replace("'", "''")))
    con.close()
    tmp.replace(path)
    print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB, {rows:,} rows) in "
          f"{time.perf_counter() - started:.1f} s")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def summarize(path: Path, work: Path) -> float:
    con = connect(work / "summarize", memory_limit=MEMORY_LIMIT, threads=THREADS)
    started = time.perf_counter()
    con.execute(f"SUMMARIZE SELECT * FROM read_csv('{path}')").fetchall()
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def pipeline(path: Path, work: Path, quiet: bool = False) -> tuple[float, dict[str, float]]:
    store = LocalBlobStore(work / "blobs")
    stages: dict[str, float] = {}
    last = [time.perf_counter(), "store"]

    def progress(_fraction: float, stage: str) -> None:
        now = time.perf_counter()
        if stage != last[1]:
            stages[str(last[1])] = stages.get(str(last[1]), 0.0) + now - float(last[0])
            last[0], last[1] = now, stage

    started = time.perf_counter()
    digest, _size = store_local_file(store, path, MAX_BYTES)  # what `qianshu register FILE` does
    result = run_pipeline([SourceFile(store.path(digest), path.name)], work / "job", progress,
                          memory_limit=MEMORY_LIMIT, threads=THREADS)
    progress(1.0, "store parquet")
    store.put_file(result.parquet_path)
    progress(1.0, "end")
    elapsed = time.perf_counter() - started
    if not quiet:
        print(f"  rows {result.stats.row_count:,}, columns {len(result.stats.columns)}, encoding "
              f"{result.files[0].encoding}; PII: "
              + ", ".join(f"{f.column}={f.kind} {f.share:.0%} ({f.masked_example})" for f in result.findings))
    return elapsed, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="baseline/pipeline pairs; the median ratio is the figure")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "benchmarks" / ".data")
    args = parser.parse_args()
    path = args.data_dir / f"registration-{args.rows}.csv"
    if not path.exists():
        generate(path, args.rows)
    size_mb = path.stat().st_size / 1e6
    print(f"file {path}: {size_mb:.0f} MB; DuckDB {duckdb.__version__}, memory_limit {MEMORY_LIMIT}, "
          f"threads {THREADS}, {os.cpu_count()} CPUs")
    ratios = []
    for round_ in range(1, args.rounds + 1):
        work = Path(tempfile.mkdtemp(prefix="qs-bench-", dir=args.data_dir))
        try:
            # Both start with no dirty pages waiting to be written (the pipeline's writes of the
            # previous round would otherwise slow whichever runs next).
            os.sync()
            base = summarize(path, work)
            os.sync()
            elapsed, stages = pipeline(path, work, quiet=round_ > 1)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        ratios.append(elapsed / base)
        print(f"round {round_}: bare SUMMARIZE {base:.1f} s ({size_mb / base:.0f} MB/s); pipeline {elapsed:.1f} s "
              f"({size_mb / elapsed:.0f} MB/s); ratio {elapsed / base:.2f}")
        print("  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))
    print(f"ratio pipeline / SUMMARIZE: median {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f}; goal <= 2.0)")
    print(f"peak RSS: {peak_rss_mb():.0f} MB (goal < 2048 MB)")


if __name__ == "__main__":
    main()
