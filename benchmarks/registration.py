"""Benchmark: registering a CSV against DuckDB's bare SUMMARIZE of it, at 100k, 1M and 10M rows.

    python benchmarks/registration.py [--rows 100000 1000000] [--large] [--rounds 2] [--data-dir DIR]

Generates (once; reused afterwards) CSVs of realistic Chinese columns — names, resident IDs
with valid check digits, mobiles, division codes, amounts, dates, free text with nulls — with
DuckDB (no Python loop over rows), and a demonstration exchange (``qianshu demo --seed-only``)
to register them in. Then, for each size and in each round, in the same run:

1. **whole process**, as a user times it: ``qianshu register FILE --json`` as a fresh process
   (interpreter, imports, database, storing the original, the pipeline job, storing the
   Parquet, saving the results) against a fresh ``python -c`` process that imports DuckDB and
   runs ``SUMMARIZE SELECT * FROM read_csv(FILE)`` with the same limits (1 GB, 2 threads);
2. **in process**: the pipeline alone (storing the original, encoding detection, normalise to
   Parquet, profile, sample, PII scan, quality measurements, storing the Parquet) against
   ``SUMMARIZE`` on a connection of the same process, with the time of each stage.

The default sizes (100k and 1M rows) run in about a minute; ``--large`` adds 10M rows (a
1.1 GB CSV; a few minutes). The exchange keeps every registration (each adds its Parquet to
``DIR/exchange``): delete that folder to take the space back. Each run starts with no dirty
pages waiting to be written (one run's writes would otherwise slow whichever runs next), and
the order alternates between rounds. Prints each round's wall and CPU times (user + system,
every thread) and ratios, the median ratio of each size (goal: at most 2.0 in wall time), and
the peak RSS of the in-process pipeline (``ru_maxrss``, goal under 2 GB). On a machine that
other work keeps busy, wall times swing with the load; the CPU ratio stays put, and shows what
the registration costs beyond SUMMARIZE (an idle machine's wall ratio is lower than the CPU
ratio where DuckDB uses both cores, higher where Python works alone).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

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
MERCHANT = "merchant.traffic@qianshu.demo"  # a data merchant of the demonstration exchange
# What a user would run to summarise the file: a fresh interpreter, DuckDB, the same limits.
SUMMARIZE_SCRIPT = """
import sys, duckdb
con = duckdb.connect(config={"memory_limit": sys.argv[2], "threads": int(sys.argv[3])})
con.execute("SUMMARIZE SELECT * FROM read_csv('" + sys.argv[1].replace("'", "''") + "')").fetchall()
"""

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
    con = connect(work / "summarize", memory_limit=MEMORY_LIMIT, threads=THREADS, readable=[path])
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


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    # An installed Qianshu has its bytecode compiled (``compile_bytecode`` below); a process that
    # compiled its ~50 modules from source each time would pay about 0.2 s more.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def compile_bytecode() -> None:
    """What installing the package does: the modules' bytecode, written once."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], env=_env(),  # noqa: S603
                   check=True, stdout=subprocess.DEVNULL)


def demo_exchange(data_dir: Path) -> Path:
    """The demonstration exchange the files are registered in (seeded once)."""
    folder = data_dir / "exchange"
    if not (folder / ".seeded").exists():
        shutil.rmtree(folder, ignore_errors=True)
        argv = [sys.executable, "-m", "qianshu.cli", "demo", "--data-dir", str(folder), "--seed-only"]
        subprocess.run(argv, env=_env(), check=True, stdout=subprocess.DEVNULL)  # noqa: S603 - our own command
        (folder / ".seeded").touch()
    return folder


class Timing(NamedTuple):
    wall: float
    cpu: float  # user + system seconds of every thread


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(argv: list[str]) -> Timing:
    os.sync()
    cpu, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(argv, env=_env(), capture_output=True, check=False)  # noqa: S603 - our own commands
    elapsed = Timing(time.perf_counter() - started, _children_cpu() - cpu)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed:\n{done.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def register_process(path: Path, exchange: Path) -> Timing:
    return _timed([sys.executable, "-m", "qianshu.cli", "register", str(path), "--title", "基准测试",
                   "--org-user", MERCHANT, "--data-dir", str(exchange), "--json"])


def summarize_process(path: Path) -> Timing:
    return _timed([sys.executable, "-c", SUMMARIZE_SCRIPT, str(path), MEMORY_LIMIT, str(THREADS)])


def in_process(path: Path, data_dir: Path, first: bool) -> tuple[Timing, Timing, dict[str, float]]:
    work = Path(tempfile.mkdtemp(prefix="qs-bench-", dir=data_dir))
    try:
        os.sync()
        cpu = time.process_time()
        base = Timing(summarize(path, work), time.process_time() - cpu)
        os.sync()
        cpu = time.process_time()
        elapsed, stages = pipeline(path, work, quiet=not first)
        run = Timing(elapsed, time.process_time() - cpu)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return base, run, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--large", action="store_true", help="also 10,000,000 rows (1.1 GB)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per size; the median ratio is the figure")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "benchmarks" / ".data")
    args = parser.parse_args()
    sizes = [*args.rows, *([10_000_000] if args.large and 10_000_000 not in args.rows else [])]
    print(f"DuckDB {duckdb.__version__}, memory_limit {MEMORY_LIMIT}, threads {THREADS}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    compile_bytecode()
    exchange = demo_exchange(args.data_dir)
    summary = []
    for rows in sizes:
        path = args.data_dir / f"registration-{rows}.csv"
        if not path.exists():
            generate(path, rows)
        size_mb = path.stat().st_size / 1e6
        print(f"\n{rows:,} rows, {path.name}: {size_mb:.0f} MB")
        ratios: dict[str, list[float]] = {"whole wall": [], "whole cpu": [], "in-process wall": [],
                                           "in-process cpu": []}
        for round_ in range(1, args.rounds + 1):
            if round_ % 2:
                base, reg = summarize_process(path), register_process(path, exchange)
            else:
                reg, base = register_process(path, exchange), summarize_process(path)
            in_base, in_run, stages = in_process(path, args.data_dir, round_ == 1)
            for key, (a, b) in {"whole": (reg, base), "in-process": (in_run, in_base)}.items():
                ratios[f"{key} wall"].append(a.wall / b.wall)
                ratios[f"{key} cpu"].append(a.cpu / b.cpu)
            print(f"round {round_} (load {os.getloadavg()[0]:.1f}):\n"
                  f"  whole process: `qianshu register` {reg.wall:.2f} s (CPU {reg.cpu:.2f} s), "
                  f"SUMMARIZE {base.wall:.2f} s (CPU {base.cpu:.2f} s): ratio {reg.wall / base.wall:.2f} "
                  f"(CPU {reg.cpu / base.cpu:.2f})\n"
                  f"  in process: pipeline {in_run.wall:.2f} s (CPU {in_run.cpu:.2f} s), SUMMARIZE "
                  f"{in_base.wall:.2f} s (CPU {in_base.cpu:.2f} s): ratio {in_run.wall / in_base.wall:.2f} "
                  f"(CPU {in_run.cpu / in_base.cpu:.2f})")
            print("  stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))
        summary.append((rows, ratios))
    print("\nratio registration / SUMMARIZE, median (min-max) of the rounds; goal <= 2.0 (wall)")
    for rows, ratios in summary:
        print(f"  {rows:>10,} rows: " + "; ".join(
            f"{key} {statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})" for key, v in ratios.items()))
    print(f"peak RSS of the in-process pipeline: {peak_rss_mb():.0f} MB (goal < 2048 MB)")


if __name__ == "__main__":
    main()
