"""Benchmark: how long ``qianshu --help`` and ``qianshu --version`` take to start.

    python benchmarks/cli_start.py [--runs 20]

Runs each command ``--runs`` times as a fresh process (as a shell does), interleaved with two
baselines measured the same way in the same run: ``python -c pass`` (the interpreter alone)
and ``python -c "import typer"`` (the CLI framework, which every start pays). Prints the
median and the fastest wall time of each, and each command's ratio to the baselines. The
goal (issue 11, item 14): ``--help`` and ``--version`` well under 0.3 s on the machine that
runs ``python -c pass`` in about 0.02 s. The median is the figure; the fastest run shows what
an idle machine gives. A command that fails shows ``nan``.

A subcommand's ``--help`` (``qianshu log --help``) costs more than ``qianshu --help``: Typer
(0.29) checks the values of its own options (``--help``, ``--install-completion``,
``--show-completion``) with Pydantic, which imports Pydantic (Qianshu's own modules are still
not imported).

To see where the time goes: ``python -X importtime -m qianshu.cli --help 2> imports.txt``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import typer'": [sys.executable, "-c", "import typer"],
    "qianshu --help": [sys.executable, "-m", "qianshu.cli", "--help"],
    "qianshu --version": [sys.executable, "-m", "qianshu.cli", "--version"],
    "qianshu log --help": [sys.executable, "-m", "qianshu.cli", "log", "--help"],
}


def _once(argv: list[str], env: dict[str, str]) -> float:
    """Wall time of one run; NaN if the command failed (an older Qianshu without ``--version``)."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # noqa: S603 - our own fixed commands
    return time.perf_counter() - started if done.returncode == 0 else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    for argv in CASES.values():  # warm the file cache and the bytecode
        _once(argv, env)
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):  # interleaved, so that a busy moment hits every case alike
        for name, argv in CASES.items():
            times[name].append(_once(argv, env))
    median = {name: statistics.median(values) for name, values in times.items()}
    bare, framework = median["python -c pass"], median["python -c 'import typer'"]
    print(f"{ROOT / 'src'}: {args.runs} runs each, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"{'command':<28}{'median s':>10}{'fastest s':>11}{'ratio to pass':>15}{'ratio to typer':>16}")
    for name, values in times.items():
        print(f"{name:<28}{median[name]:>10.3f}{min(values):>11.3f}{median[name] / bare:>15.1f}"
              f"{median[name] / framework:>16.2f}")


if __name__ == "__main__":
    main()
