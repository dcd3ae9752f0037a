"""Benchmark: the registration pipeline on files of unusual shape, the two of tests/registry/test_bad_input.py.

    python benchmarks/registration_shapes.py [--shapes wide cell] [--columns 10000] [--rounds 1]

- **wide**: a CSV of 10,000 columns (``--columns``) and 3 rows of small integers;
- **cell**: a CSV of 2 rows whose first holds a 51 MB cell of Chinese text (17 Mi characters).

Each file is written to a temporary folder, then the pipeline runs in this process with the
pipeline's limits (1 GB, 2 threads). Prints each round's wall and CPU time (user + system, every
thread) and the peak RSS (``ru_maxrss``; goal under 2 GB). On a machine other work keeps busy,
wall times swing with the load.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from qianshu.registry.ingest import SourceFile  # noqa: E402
from qianshu.registry.pipeline import run_pipeline  # noqa: E402


def write_wide(path: Path, columns: int) -> None:
    header = ",".join(f"c{i}" for i in range(columns))
    rows = "\n".join(",".join(str(r * i % 97) for i in range(columns)) for r in range(3))
    path.write_text(header + "\n" + rows + "\n")


def write_cell(path: Path) -> None:
    with path.open("w") as fh:
        fh.write("id,doc\n1,")
        fh.write("文" * (17 * 1024 * 1024))  # 3 bytes each: ~51 MB
        fh.write("\n2,short\n")


def run(path: Path, work: Path) -> tuple[float, float]:
    started, cpu = time.perf_counter(), os.times()
    result = run_pipeline([SourceFile(path, path.name)], work, memory_limit="1GB", threads=2)
    now = os.times()
    print(f"    rows {result.stats.row_count:,}, columns {len(result.stats.columns):,}, "
          f"findings {len(result.findings)}")
    return time.perf_counter() - started, (now.user - cpu.user) + (now.system - cpu.system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", choices=("wide", "cell"), default=["wide", "cell"])
    parser.add_argument("--columns", type=int, default=10_000, help="columns of the wide file")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for shape in args.shapes:
            path = folder / f"{shape}.csv"
            if shape == "wide":
                write_wide(path, args.columns)
            else:
                write_cell(path)
            for n in range(args.rounds):
                wall, cpu = run(path, folder / f"work-{shape}-{n}")
                print(f"{shape} round {n + 1}: wall {wall:.1f} s, CPU {cpu:.1f} s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
