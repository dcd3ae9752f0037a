"""Where one payment's time goes: its statements, their time, and the CPU around them.

    python benchmarks/exchange_profile.py [--database sqlite|postgres] [--payments 40] [--cprofile]
                                          [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Seeds like ``benchmarks/exchange.py`` (the demo without history, one funded buyer with
``--payments`` contracts signed and waiting), then pays them one by one through the whole web
app in this process (Starlette's test client: middleware, token, idempotency key, JSON), one
request at a time so that nothing waits for a lock. Every statement is timed at the driver
(``before/after_cursor_execute``). Printed per payment: wall time, statements, time inside the
driver (round trip and the server's work) and the rest (Python: routing, ORM, JSON), and the CPU time
of the process (less sensitive to a busy machine than the wall time); then each
distinct statement with its count and mean time. ``--cprofile`` adds the top functions by
cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from exchange import DEFAULT_PG_URL, _admin, prepare  # noqa: E402
from qianshu.core.settings import Settings  # noqa: E402


class StatementClock:
    """Every statement any engine runs: a short form of its text, its count and time."""

    def __init__(self) -> None:
        self.on = False
        self.count: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.started: list[float] = []
        self.sequence: list[str] = []  # the first payment's statements, in order
        self.tracing = False
        event.listen(Engine, "before_cursor_execute", self.before)
        event.listen(Engine, "after_cursor_execute", self.after)

    def before(self, *_args: Any) -> None:
        self.started.append(time.perf_counter())

    def after(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        began = self.started.pop() if self.started else time.perf_counter()
        if self.on:
            short = re.sub(r"\s+", " ", statement)[:110]
            self.count[short] += 1
            if self.tracing:
                self.sequence.append(short)
            self.seconds[short] += time.perf_counter() - began

    def total(self) -> tuple[int, float]:
        return sum(self.count.values()), sum(self.seconds.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--payments", type=int, default=40)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--pg-url", default=os.environ.get("QIANSHU_TEST_DATABASE_URL", DEFAULT_PG_URL))
    args = parser.parse_args(argv)

    from starlette.testclient import TestClient

    from qianshu.web.app import create_app

    folder = Path(tempfile.mkdtemp(prefix="qianshu-profile-pay-"))
    pg_name = f"qs_profile_pay_{uuid.uuid4().hex[:8]}" if args.database == "postgres" else ""
    url = make_url(args.pg_url).set(database=pg_name).render_as_string(hide_password=False) if pg_name else ""
    if pg_name:
        _admin(args.pg_url, f'CREATE DATABASE "{pg_name}"')
    try:
        buyers, _offers, waiting = prepare(folder, url, 1, args.payments)
        settings = Settings(data_dir=folder)
        clock = StatementClock()
        with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
            contracts = waiting[0]
            # The first payment warms the caches (routes, compiled statements); not counted.
            client.post(f"/api/v1/exchange/contracts/{contracts[0]}/pay",
                        headers={**buyers[0], "Idempotency-Key": uuid.uuid4().hex})
            profiler = cProfile.Profile() if args.cprofile else None
            clock.on = True
            began, cpu_began = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            for k, cid in enumerate(contracts[1:]):
                clock.tracing = k == 0
                r = client.post(f"/api/v1/exchange/contracts/{cid}/pay",
                                headers={**buyers[0], "Idempotency-Key": uuid.uuid4().hex})
                if r.status_code not in (200, 201):
                    raise RuntimeError(f"payment refused: {r.status_code} {r.text}")
            if profiler:
                profiler.disable()
            wall, cpu = time.perf_counter() - began, time.process_time() - cpu_began
            clock.on = False
        n = len(contracts) - 1
        statements, in_driver = clock.total()
        print(f"[{args.database}] {n} payments, one at a time: {wall / n * 1000:.1f} ms each; "
              f"{statements / n:.1f} statements each, {in_driver / n * 1000:.1f} ms in the driver, "
              f"{(wall - in_driver) / n * 1000:.1f} ms elsewhere (Python); CPU of this process (app and "
              f"test client) {cpu / n * 1000:.1f} ms each")
        print("  the statements of one payment, in order:")
        for k, text in enumerate(clock.sequence, 1):
            print(f"  {k:3d}. {text}")
        print("  per distinct statement: times per payment, mean time")
        for text, count in sorted(clock.count.items(), key=lambda kv: -clock.seconds[kv[0]]):
            print(f"  {count / n:5.2f}x  {clock.seconds[text] / count * 1000:6.2f} ms  {text}")
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
            print(out.getvalue())
        return 0
    finally:
        if pg_name:
            _admin(args.pg_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
