"""In-process ledger transfers per second on PostgreSQL, against pgbench at the same concurrency.

    python benchmarks/ledger.py [--clients 8] [--seconds 10] [--wallets 1000] [--rounds 1]
                                [--server postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates two scratch databases on the server: one migrated to head with ``--wallets`` funded
wallets, where ``--clients`` threads post transfers between random wallets through
``ledger.service.transfer`` (each its own transaction: lock both accounts in id order, check,
update, insert, commit; no HTTP), and one initialised by ``pgbench -i`` at scale ``--clients`` (one
branch per client, as pgbench's documentation advises), on which ``pgbench -c N -j N -T seconds``
runs its TPC-B-like transaction (three updates, a select and an insert). Both run in this same
run, one after the other, ``--rounds`` times alternating (the machine's speed drifts between
minutes: each round's ratio compares two runs a few seconds apart), and each round's ratio and
their median are printed (goal: the ledger at least half of pgbench). Both databases are
dropped at the end.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import subprocess
import threading
import time
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from qianshu.accounts.models import Organisation
from qianshu.core.actor import SYSTEM
from qianshu.core.db import Database
from qianshu.core.identifiers import uscc_check_char
from qianshu.core.migrate import upgrade
from qianshu.ledger import service

FUNDS = 10**12  # fen per wallet: never the limit


def _admin(server: str, sql: str) -> None:
    engine = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def _seed(database: Database, wallets: int) -> list[int]:
    with database.unit_of_work() as db:
        orgs = []
        for n in range(wallets):
            body = f"91520100MA{n:07d}"
            orgs.append(Organisation(name=f"基准测试机构{n}", org_type="buyer", uscc=body + uscc_check_char(body),
                                     division_code="520102", contact_name="x", contact_email=f"b{n}@x.cn",
                                     contact_phone="1", status="approved"))
        db.add_all(orgs)
        db.flush()
        bank = service.bank_clearing_account(db)
        ids = []
        for org in orgs:
            wallet = service.wallet_of(db, org.id)
            service.transfer(db, SYSTEM, debit=bank, credit=wallet, amount_fen=FUNDS, kind="deposit",
                             cause=("bank_transfer", f"BENCH-{org.id}"))
            ids.append(wallet.id)
    return ids


def run_ledger(database: Database, wallets: list[int], clients: int, seconds: float) -> tuple[float, int]:
    counts = [0] * clients
    stop = time.monotonic() + seconds
    start = threading.Barrier(clients + 1)

    def work(i: int) -> None:
        rng = random.Random(i)
        start.wait()
        while time.monotonic() < stop:
            debit, credit = rng.sample(wallets, 2)
            with database.unit_of_work() as db:
                service.transfer(db, SYSTEM, debit=debit, credit=credit, amount_fen=rng.randint(1, 10_000),
                                 kind="payment", cause=("benchmark", i))
            counts[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    started = time.monotonic()
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return sum(counts) / elapsed, sum(counts)


def _pgbench(server: str) -> list[str]:
    url = make_url(server)
    return [shutil.which("pgbench") or "/usr/bin/pgbench", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
            "-U", url.username or "postgres"]


def init_pgbench(server: str, name: str, clients: int) -> None:
    # pgbench with our own arguments, against the scratch database this run made.
    subprocess.run([*_pgbench(server), "-i", "-q", "-s", str(clients), name], check=True,  # noqa: S603
                   capture_output=True)


def run_pgbench(server: str, name: str, clients: int, seconds: float) -> float:
    base = _pgbench(server)
    out = subprocess.run([*base, "-c", str(clients), "-j", str(clients), "-T", str(int(seconds)), name],  # noqa: S603
                         check=True, capture_output=True, text=True).stdout
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out) or re.search(
        r"tps = ([0-9.]+)", out)
    if found is None:
        raise RuntimeError(f"pgbench printed no tps:\n{out}")
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--wallets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    suffix = uuid.uuid4().hex[:8]
    ledger_db, pgbench_db = f"qs_bench_ledger_{suffix}", f"qs_bench_pgbench_{suffix}"
    _admin(args.server, f'CREATE DATABASE "{ledger_db}"')
    _admin(args.server, f'CREATE DATABASE "{pgbench_db}"')
    database = None
    try:
        url = make_url(args.server).set(database=ledger_db).render_as_string(hide_password=False)
        upgrade(url)
        database = Database(url)
        wallets = _seed(database, args.wallets)
        run_ledger(database, wallets, args.clients, min(2.0, args.seconds))  # warm the pool and the caches
        init_pgbench(args.server, pgbench_db, args.clients)
        print(f"clients={args.clients} seconds={args.seconds:g} wallets={args.wallets} rounds={args.rounds}")
        ratios = []
        for n in range(1, args.rounds + 1):
            ledger_tps, posted = run_ledger(database, wallets, args.clients, args.seconds)
            pgbench_tps = run_pgbench(args.server, pgbench_db, args.clients, args.seconds)
            ratios.append(ledger_tps / pgbench_tps)
            print(f"round {n}: ledger transfers/s (in-process, no HTTP) {ledger_tps:,.0f} ({posted:,} posted); "
                  f"pgbench TPC-B-like tps (scale {args.clients}) {pgbench_tps:,.0f}; ratio {ratios[-1]:.2f}")
        with database.unit_of_work(write=False) as db:
            total = db.execute(text("SELECT sum(balance_fen) FROM ledger_accounts")).scalar()
        print(f"sum of all balances: {total} (the books balance: 0)")
        print(f"median ratio ledger / pgbench: {statistics.median(ratios):.2f}  (goal >= 0.50)")
    finally:
        if database is not None:
            database.dispose()
        _admin(args.server, f'DROP DATABASE IF EXISTS "{ledger_db}" WITH (FORCE)')
        _admin(args.server, f'DROP DATABASE IF EXISTS "{pgbench_db}" WITH (FORCE)')


if __name__ == "__main__":
    main()
