"""Trading over loopback HTTP: many buyers ordering, paying and accepting at once, against pgbench.

    python benchmarks/exchange.py [--database sqlite|postgres|both] [--clients 8] [--seconds 20]
                                  [--workers N] [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

For each database: a fresh data folder (on PostgreSQL a scratch database too, dropped afterwards),
the demo exchange seeded through the services (without its trading history), ``--clients`` buyer
organisations with an API token and a funded wallet each, and the sellers' tokens; then
``qianshu serve`` in a process of its own. Each client (a thread, httpx, 127.0.0.1) trades in a
loop for ``--seconds``: order a one-time plan, the seller accepts, both sign, pay (with an
Idempotency-Key), the seller delivers, the buyer accepts (the contract settles). Before that, a
payments-only phase pays ``--ready`` contracts per client signed beforehand (one request each,
for at most ``--seconds``; each client's first is a warm-up, not counted). Printed: settled
orders/s, payments/s of both phases, latency percentiles per step, and the CPU time per payment
and per trade of the server, of PostgreSQL and of the clients. On PostgreSQL, in the same run and
against the same server, ``pgbench`` (TPC-B-like, scale ``--clients``, ``-c N -j N``) runs for
the same seconds on a scratch database, and the ratio payments/s ÷ pgbench tps is printed
(goals: at least 1/4; p99 of a payment under 100 ms at 32 clients). Finally the books are
checked: the sum of all balances is zero.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from qianshu.accounts import service as accounts  # noqa: E402
from qianshu.accounts.models import Organisation, User  # noqa: E402
from qianshu.accounts.passwords import hash_password  # noqa: E402
from qianshu.accounts.schemas import TokenIn  # noqa: E402
from qianshu.catalog.models import Listing  # noqa: E402
from qianshu.catalog.policy import terms_from_odrl  # noqa: E402
from qianshu.core.db import Database  # noqa: E402
from qianshu.core.identifiers import uscc_check_char  # noqa: E402
from qianshu.core.settings import SETTINGS_FILE, Settings  # noqa: E402
from qianshu.demo.registrations import actor_of  # noqa: E402
from qianshu.demo.seed import seed_demo  # noqa: E402
from qianshu.exchange import contracts as exchange_contracts  # noqa: E402
from qianshu.exchange import orders as exchange_orders  # noqa: E402
from qianshu.exchange.schemas import OrderIn  # noqa: E402
from qianshu.ledger import service as ledger  # noqa: E402
from qianshu.ledger.models import LedgerAccount  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SCENARIO = "基准测试：城市交通拥堵分析与信号灯配时优化研究"
STEPS = ("pay-only", "order", "accept", "sign.buyer", "sign.seller", "pay", "deliver", "accept-delivery")


def _admin(server: str, sql: str) -> None:
    engine = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def cpu_now(server_pid: int) -> tuple[float, float, float]:
    """CPU seconds (user + system) used so far by the server (``qianshu serve`` and every process
    under it), by all PostgreSQL processes of the machine (the benchmark's backends, and anyone
    else's) and by this process (the clients): what a phase cost, beside how long it took."""
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    used: dict[int, float] = {}
    postgres = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        pid, seconds = int(entry.name), (int(fields[11]) + int(fields[12])) / tick
        parent[pid], used[pid] = int(fields[1]), seconds
        if raw[raw.index("(") + 1:raw.rindex(")")] == "postgres":
            postgres += seconds
    tree, grew = {server_pid}, True
    while grew:
        below = {pid for pid, ppid in parent.items() if ppid in tree} - tree
        tree |= below
        grew = bool(below)
    times = os.times()
    return sum(used.get(pid, 0.0) for pid in tree), postgres, times.user + times.system


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(data_dir: Path, database_url: str, clients: int,
            ready: int = 0) -> tuple[list[dict[str, str]], list[Any], list[list[int]]]:
    """The demo (no history), ``clients`` funded buyers with tokens, the offers with their sellers'
    tokens, and ``ready`` contracts per buyer signed by both and waiting for payment (made
    in-process through the services), for the payments-only phase."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lines = ['environment = "development"', f'secret_key = "{uuid.uuid4().hex * 2}"', "run_jobs_in_process = false"]
    if database_url:
        lines.append(f'database_url = "{database_url}"')
    lines += ["[exchange]", "demo_history_contracts = 0"]
    (data_dir / SETTINGS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = Settings(data_dir=data_dir)
    seed_demo(settings)
    database = Database(settings.effective_database_url)
    try:
        with database.unit_of_work() as db:
            operator = actor_of(db, "operator@qianshu.demo")
            password = hash_password(uuid.uuid4().hex)
            buyers = []
            for n in range(clients):
                body = f"91520100MB{n:07d}"
                org = Organisation(name=f"基准买方{n}", org_type="buyer", uscc=body + uscc_check_char(body),
                                   division_code="520102", contact_name="x", contact_email=f"b{n}@bench.cn",
                                   contact_phone="1", status="approved")
                org.users.append(User(email=f"buyer{n}@bench.cn", display_name=f"买方{n}", password_hash=password,
                                      org_role="admin"))
                db.add(org)
                db.flush()
                ledger.deposit(db, operator, org_id=org.id, amount_fen=10**12, bank_reference=f"BENCH-{n}")
                _t, raw = accounts.create_token(db, accounts.actor_for(org.users[0], via="api", ip="127.0.0.1"),
                                                TokenIn(name="bench", scopes=["read", "write"]))
                buyers.append({"Authorization": f"Bearer {raw}"})
            offers = []
            for listing in db.scalars(select(Listing).where(Listing.status == "listed").order_by(Listing.id)):
                plan = next((p for p in listing.plans if p.active and p.kind == "one_time" and p.price_fen), None)
                purposes = terms_from_odrl(plan.policy or {}).purposes if plan is not None else []
                if plan is None or not purposes:
                    continue
                admin = db.scalars(select(User).where(User.org_id == listing.org_id, User.org_role == "admin")).first()
                if admin is None:
                    continue
                _t, raw = accounts.create_token(db, accounts.actor_for(admin, via="api", ip="127.0.0.1"),
                                                TokenIn(name="bench", scopes=["read", "write"]))
                offers.append((listing.id, plan.id, purposes[0], plan.delivery_modes[0] if plan.delivery_modes
                               else "download", {"Authorization": f"Bearer {raw}"}))
        waiting: list[list[int]] = [[] for _ in buyers]
        if ready and offers:
            with database.unit_of_work() as db:
                buyer_actors = [accounts.actor_for(db.scalars(select(User).where(User.email == f"buyer{n}@bench.cn"))
                                                   .one(), via="api", ip="127.0.0.1") for n in range(clients)]
                seller_actors = {}
                for listing_id, _plan, _purpose, _mode, _token in offers:
                    org = db.get_one(Listing, listing_id).org_id
                    admin = db.scalars(select(User).where(User.org_id == org, User.org_role == "admin")).first()
                    seller_actors[listing_id] = accounts.actor_for(admin, via="api", ip="127.0.0.1")
                for n, buyer in enumerate(buyer_actors):
                    for k in range(ready):
                        listing_id, plan_id, purpose, mode, _token = offers[(n + k) % len(offers)]
                        order = exchange_orders.place_order(db, buyer, OrderIn(listing_id=listing_id, plan_id=plan_id,
                                                                               purpose=purpose, delivery_mode=mode,
                                                                               scenario=SCENARIO))
                        contract = exchange_orders.accept_order(db, seller_actors[listing_id], order.id)
                        exchange_contracts.sign(db, seller_actors[listing_id], contract.id)
                        exchange_contracts.sign(db, buyer, contract.id)
                        waiting[n].append(contract.id)
    finally:
        database.dispose()
    if not offers:
        raise RuntimeError("the demo has no listed product with a one-time plan")
    return buyers, offers, waiting


class Server:
    def __init__(self, data_dir: Path, workers: int) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("QIANSHU_")}
        env.update(PYTHONPATH=os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]),
                   QIANSHU_ACCESS_LOG="false", QIANSHU_RUN_JOBS_IN_PROCESS="false")
        self.process = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "qianshu.cli", "serve", "--data-dir", str(data_dir), "--port", str(self.port),
             "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Client:
    """One buyer trading in a loop; latencies per step, counts of payments and settlements."""

    def __init__(self, base: str, buyer: dict[str, str], offers: list[Any], index: int) -> None:
        self.http = httpx.Client(base_url=base + "/api/v1/exchange", timeout=30)
        self.buyer, self.offers, self.index = buyer, offers, index
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.paid = self.settled = self.failed = self.paid_only = 0

    def _post(self, step: str, path: str, headers: dict[str, str], json: Any = None, key: bool = False) -> Any:
        if key:
            headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
        start = time.perf_counter()
        r = self.http.post(path, headers=headers, json=json)
        self.latency[step].append(time.perf_counter() - start)
        if r.status_code not in (200, 201):
            self.failed += 1
            return None
        return r.json()

    def trade(self, n: int) -> None:
        listing, plan, purpose, mode, seller = self.offers[(self.index + n) % len(self.offers)]
        order = self._post("order", "/orders", self.buyer, {"listing_id": listing, "plan_id": plan,
                                                            "purpose": purpose, "delivery_mode": mode,
                                                            "scenario": SCENARIO})
        contract = order and self._post("accept", f"/orders/{order['id']}/accept", seller)
        if not contract:
            return
        cid = contract["id"]
        if not (self._post("sign.buyer", f"/contracts/{cid}/sign", self.buyer, {})
                and self._post("sign.seller", f"/contracts/{cid}/sign", seller, {})):
            return
        if not self._post("pay", f"/contracts/{cid}/pay", self.buyer, key=True):
            return
        self.paid += 1
        if not self._post("deliver", f"/contracts/{cid}/deliver", seller, key=True):
            return
        if self._post("accept-delivery", f"/contracts/{cid}/accept-delivery", self.buyer, key=True):
            self.settled += 1

    def pay_only(self, contracts: list[int], until: float, barrier: threading.Barrier) -> None:
        """The payments-only phase: pay contracts already signed, one request each."""
        barrier.wait()
        for cid in contracts:
            if time.monotonic() >= until:
                break
            if self._post("pay-only", f"/contracts/{cid}/pay", self.buyer, key=True):
                self.paid_only += 1

    def run(self, until: float, barrier: threading.Barrier) -> None:
        barrier.wait()
        n = 0
        while time.monotonic() < until:
            self.trade(n)
            n += 1
        self.http.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def run_pgbench(server: str, clients: int, seconds: float) -> float:
    name = f"qs_bench_pgbench_{uuid.uuid4().hex[:8]}"
    _admin(server, f'CREATE DATABASE "{name}"')
    url = make_url(server)
    binary = shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench"
    base = [binary, "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    try:
        subprocess.run([*base, "-i", "-q", "-s", str(clients), name], check=True, capture_output=True, env=env)  # noqa: S603
        out = subprocess.run([*base, "-c", str(clients), "-j", str(clients), "-T", str(int(seconds)), name],  # noqa: S603
                             check=True, capture_output=True, text=True, env=env).stdout
    finally:
        _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    found = re.search(r"tps = ([0-9.]+)", out)
    if found is None:
        raise RuntimeError(f"pgbench printed no tps:\n{out}")
    return float(found.group(1))


def _phase(clients: list[Client], target: Any, args: list[tuple[Any, ...]]) -> float:
    barrier = threading.Barrier(len(clients) + 1)
    threads = [threading.Thread(target=getattr(c, target), args=(*a, barrier)) for c, a in zip(clients, args,
                                                                                                 strict=True)]
    for t in threads:
        t.start()
    barrier.wait()
    began = time.monotonic()
    for t in threads:
        t.join()
    return max(time.monotonic() - began, 1e-9)


def run(database: str, clients: int, seconds: float, workers: int | None, pg_url: str,
        ready: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="qianshu-bench-exchange-"))
    pg_name = f"qs_bench_exchange_{uuid.uuid4().hex[:8]}" if database == "postgres" else ""
    url = make_url(pg_url).set(database=pg_name).render_as_string(hide_password=False) if pg_name else ""
    if pg_name:
        _admin(pg_url, f'CREATE DATABASE "{pg_name}"')
    server = None
    try:
        started = time.monotonic()
        buyers, offers, waiting = prepare(folder, url, clients, ready)
        print(f"[{database}] seeded in {time.monotonic() - started:.0f} s; {len(offers)} products on offer",
              flush=True)
        server = Server(folder, workers or (1 if database == "sqlite" else 2))
        trading = [Client(server.base, b, offers, i) for i, b in enumerate(buyers)]
        paying = 0.0
        if ready > 1:  # warm-up, not counted: each client's first payment (the workers' first statements)
            _phase(trading, "pay_only", [(w[:1], time.monotonic() + seconds) for w in waiting])
            for c in trading:
                c.paid_only = 0
                c.latency.clear()
            waiting = [w[1:] for w in waiting]
        cpu_before = cpu_now(server.process.pid)
        if ready:
            paying = _phase(trading, "pay_only", [(w, time.monotonic() + seconds) for w in waiting])
        cpu_paying = [after - before for after, before in zip(cpu_now(server.process.pid), cpu_before, strict=True)]
        cpu_before = cpu_now(server.process.pid)
        elapsed = _phase(trading, "run", [(time.monotonic() + seconds,) for _ in trading])
        cpu_trading = [after - before for after, before in zip(cpu_now(server.process.pid), cpu_before, strict=True)]
        latency: dict[str, list[float]] = defaultdict(list)
        for c in trading:
            for step, values in c.latency.items():
                latency[step].extend(values)
        result: dict[str, Any] = {
            "database": database, "clients": clients, "seconds": elapsed,
            "payments_per_s": sum(c.paid for c in trading) / elapsed,
            "settled_per_s": sum(c.settled for c in trading) / elapsed,
            "failed": sum(c.failed for c in trading), "latency": latency,
            "pay_only_per_s": sum(c.paid_only for c in trading) / paying if paying else 0.0,
            "pay_only_seconds": paying, "pay_only_cpu": cpu_paying, "trading_cpu": cpu_trading,
            "load": os.getloadavg()[0]}
        if database == "postgres":
            result["pgbench_tps"] = run_pgbench(pg_url, clients, seconds)
        settings = Settings(data_dir=folder)
        check = Database(settings.effective_database_url)
        with check.unit_of_work(write=False) as db:
            result["books_sum"] = int(db.scalar(select(func.sum(LedgerAccount.balance_fen))) or 0)
        check.dispose()
        return result
    finally:
        if server is not None:
            server.stop()
        if pg_name:
            _admin(pg_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        shutil.rmtree(folder, ignore_errors=True)


def report(result: dict[str, Any]) -> None:
    print(f"[{result['database']}] clients={result['clients']} seconds={result['seconds']:.1f}  "
          f"settled orders/s {result['settled_per_s']:.1f}  payments/s {result['payments_per_s']:.1f}  "
          f"refused/failed steps {result['failed']}  sum of balances {result['books_sum']}")
    for step in STEPS:
        values = result["latency"].get(step, [])
        print(f"  {step:<16} n={len(values):>5}  p50 {percentile(values, 0.5):7.1f} ms  "
              f"p90 {percentile(values, 0.9):7.1f} ms  p99 {percentile(values, 0.99):7.1f} ms")
    if result["pay_only_seconds"]:
        print(f"  payments only (contracts signed beforehand, one request each): "
              f"{result['pay_only_per_s']:.1f} payments/s over {result['pay_only_seconds']:.1f} s")
        paid = result["pay_only_per_s"] * result["pay_only_seconds"]
        server, postgres, clients = (seconds / paid * 1000 for seconds in result["pay_only_cpu"])
        print(f"  CPU per payment of that phase: server {server:.1f} ms, PostgreSQL (all of the machine's) "
              f"{postgres:.1f} ms, clients {clients:.1f} ms; load average after trading {result['load']:.1f}")
    trades = result["settled_per_s"] * result["seconds"]
    if trades:
        server, postgres, clients = (seconds / trades * 1000 for seconds in result["trading_cpu"])
        print(f"  CPU per settled trade (7 requests): server {server:.1f} ms, PostgreSQL {postgres:.1f} ms, "
              f"clients {clients:.1f} ms")
    if "pgbench_tps" in result:
        best = max(result["payments_per_s"], result["pay_only_per_s"])
        ratio = best / result["pgbench_tps"] if result["pgbench_tps"] else 0.0
        p99 = percentile(result["latency"].get("pay-only") or result["latency"].get("pay", []), 0.99)
        print(f"  pgbench TPC-B-like tps (scale {result['clients']}, -c {result['clients']}): "
              f"{result['pgbench_tps']:,.0f}")
        print(f"  ratio payments/s / pgbench tps: {ratio:.3f} (goal >= 0.25); p99 payment {p99:.0f} ms "
              f"(goal < 100 ms at 32 clients)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=None, help="web workers (default: 1 on SQLite, 2 on PostgreSQL)")
    parser.add_argument("--pg-url", default=os.environ.get("QIANSHU_TEST_DATABASE_URL", DEFAULT_PG_URL))
    parser.add_argument("--ready", type=int, default=40,
                        help="contracts per client signed beforehand for the payments-only phase (0: none)")
    args = parser.parse_args(argv)
    for database in (("sqlite", "postgres") if args.database == "both" else (args.database,)):
        result = run(database, args.clients, args.seconds, args.workers, args.pg_url, args.ready)
        report(result)
        if result["books_sum"] != 0:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
